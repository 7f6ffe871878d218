"""Who may see contacts' data in the admin: one permission, asked by every page that shows it."""

from django.contrib.auth import get_permission_codename
from django.core.exceptions import FieldDoesNotExist
from django.utils.text import capfirst

from campaigns.models import ListDeparture, ListMembership


def user_sees_contacts(user) -> bool:
    """Tell whether this staff member may see contacts' data (addresses, names, attributes): what
    every page that shows it asks, whatever else it shows. As Django's admin lets whoever may
    change contacts view them, changing counts as seeing."""
    return user.has_perm("campaigns.view_contact") or user.has_perm("campaigns.change_contact")


def user_may_import(user) -> bool:
    """Tell whether this staff member may import contacts: add, change and see them (an import's
    counts say who is on file), and keep imports."""
    perms = ["campaigns.add_contactimport", "campaigns.add_contact", "campaigns.change_contact"]
    return user.has_perms(perms) and user_sees_contacts(user)


def sees_contacts(request) -> bool:
    """Tell whether the person asking may see contacts' data (user_sees_contacts)."""
    return user_sees_contacts(request.user)


def sees_memberships(request) -> bool:
    """Tell whether the person asking may see who is on which list (as Django's admin lets whoever
    may change memberships view them, changing counts as seeing)."""
    user = request.user
    return user.has_perm("campaigns.view_listmembership") or user.has_perm("campaigns.change_listmembership")


def user_may_change_memberships(user, verb: str) -> bool:
    """Tell whether this staff member may add (`verb` "add") or remove ("delete") contacts on lists
    from the contact list's actions: change contacts, that right on memberships, and see the lists
    (the action names them, and says how many were on one already)."""
    perms = ["campaigns.change_contact", f"campaigns.{verb}_listmembership", "campaigns.view_contactlist"]
    return user.has_perms(perms)


def entries_naming_no_list(entries: list) -> list:
    """Drop, from a deletion's nested list of what goes, the entries of memberships and lists left
    (each written "<model>: <contact> in <list>" by Django's admin)."""
    named = tuple(f"{capfirst(model._meta.verbose_name)}: " for model in (ListMembership, ListDeparture))
    return [
        entries_naming_no_list(entry) if isinstance(entry, list) else entry
        for entry in entries
        if isinstance(entry, list) or not str(entry).startswith(named)
    ]


def user_sees_model(user, model) -> bool:
    """Tell whether this staff member may see a model's rows (as Django's admin lets whoever may
    change them view them, changing counts as seeing)."""
    opts = model._meta
    return any(
        user.has_perm(f"{opts.app_label}.{get_permission_codename(verb, opts)}")
        for verb in ("view", "change")
    )


def relation_named(model, name):
    """Return the model's relation of this name, or None when the name is a plain field or none."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if field.is_relation and field.related_model is not None else None


def relation_rows_model(field):
    """Return the model whose rows a relation reveals: a many-to-many's through model (filtering
    contacts by list tells who is on it, as the membership rows do), else the related model."""
    if field.many_to_many:
        # The reverse side holds the through model itself, the forward side on its remote field.
        return getattr(field, "through", None) or field.remote_field.through
    return field.related_model


def user_sees_relation(user, field) -> bool:
    """Tell whether this staff member may see the rows a relation leads to."""
    return user_sees_model(user, relation_rows_model(field))


class ContactDataAdminMixin:
    """For a table whose every row is a recipient's data (an email sent, an event, a suppressed
    address): its pages ask for user_sees_contacts on top of the model's own permissions, as the
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
