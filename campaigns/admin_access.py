"""Who may see contacts' data in the admin: one permission, asked by every page that shows it."""

#: The permission every page that shows a contact's data asks for, whatever else it shows.
SEES_CONTACTS = "campaigns.view_contact"


def sees_contacts(request) -> bool:
    """Tell whether this person may see contacts' data (addresses, names, attributes)."""
    return request.user.has_perm(SEES_CONTACTS)


class ContactDataAdminMixin:
    """For a table whose every row is a recipient's data (an email sent, an event, a suppressed
    address): its pages ask for SEES_CONTACTS on top of the model's own permissions, as the
    exports of the same rows do."""

    def has_module_permission(self, request) -> bool:
        return sees_contacts(request) and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request, obj=None) -> bool:
        return sees_contacts(request) and super().has_view_permission(request, obj)  # type: ignore[misc]

    def has_change_permission(self, request, obj=None) -> bool:
        return sees_contacts(request) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request, obj=None) -> bool:
        return sees_contacts(request) and super().has_delete_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request, *args) -> bool:
        return sees_contacts(request) and super().has_add_permission(request, *args)  # type: ignore[misc]
