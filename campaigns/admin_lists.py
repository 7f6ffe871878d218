"""The list pages: each list's members below its form, searchable and paged, added by address and
removed by ticking them."""

import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from campaigns.admin_access import (
    entries_naming_no_list,
    sees_contacts,
    sees_memberships,
    user_may_change_memberships,
)
from campaigns.admin_filters import LoadTestFilter
from campaigns.exceptions import NamedBySegment
from campaigns.load_test_contacts import contacts_load_test_clear
from campaigns.memberships import (
    contacts_kept_off,
    kept_off_message,
    list_add_contacts,
    list_remove_contacts,
)
from campaigns.models import Contact, ContactList
from campaigns.segments import campaigns_narrowing, segments_naming
from campaigns.services import contact_lists_delete
from core.addresses import email_canonical
from core.text import grouped, words_shown

#: Members shown per page of a list.
MEMBERS_PER_PAGE = 50
#: Addresses one paste may add.
MEMBERS_ADD_MAX = 1000


_SEPARATORS = re.compile(r"[\s,;]+")


@admin.register(ContactList)
class ContactListAdmin(ModelAdmin):
    list_display = ["name", "member_count", "created_at"]
    list_filter = [LoadTestFilter]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]
    change_form_outer_after_template = "admin/campaigns/contactlist/_members.html"

    def get_deleted_objects(self, objs, request):
        """Ask only for the right to delete lists (and to see contacts, whom their memberships
        name): the memberships go with them by design, named only to who may see them."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if not sees_memberships(request):
            deleted = entries_naming_no_list(deleted)  # Their number stays in the summary.
        # A segment's rule naming a list would silently mean something else without it.
        protected = (
            list(protected)
            + [
                gettext("%(list)s: segments name it in their rules (%(segments)s); change those first")
                % {"list": contact_list.name, "segments": ", ".join(naming[:5])}
                for contact_list in objs
                if (naming := segments_naming(list_ids=[contact_list.pk]))
            ]
            + [
                gettext(
                    "%(list)s: campaigns not finished narrow it with segments (%(campaigns)s); "
                    "take it off them first"
                )
                % {"list": contact_list.name, "campaigns": ", ".join(narrowing)}
                for contact_list in objs
                if (narrowing := campaigns_narrowing(list_ids=[contact_list.pk]))
            ]
        )
        return deleted, counts, set() if sees_contacts(request) else perms_needed, protected

    def delete_queryset(self, request, queryset):
        """Delete through the service, which checks again that no segment names them."""
        try:
            contact_lists_delete(pks=list(queryset.values_list("pk", flat=True)))
        except NamedBySegment as exc:  # Named since the confirmation page was shown.
            raise PermissionDenied(str(exc)) from exc

    def delete_model(self, request, obj):
        self.delete_queryset(request, ContactList.objects.filter(pk=obj.pk))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description=_("Members"), ordering="_member_count")
    def member_count(self, obj):
        return grouped(obj._member_count)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/members/add/",
                view(self.members_add_view),
                name="campaigns_contactlist_members_add",
            ),
            path(
                "<path:object_id>/members/remove/",
                view(self.members_remove_view),
                name="campaigns_contactlist_members_remove",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The list's form, and below it its members, to those who may see contacts and who is on
        which list."""
        contact_list = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if contact_list is not None and sees_contacts(request) and sees_memberships(request):
            extra |= self._members_context(request, contact_list)
        return super().change_view(request, object_id, form_url, extra)

    def _members_context(self, request, contact_list: ContactList) -> dict:
        query = request.GET.get("q", "").replace("\x00", "").strip()[:254]
        members = Contact.objects.filter(memberships__contact_list=contact_list)
        if query:
            members = members.filter(
                Q(email__icontains=query) | Q(first_name__icontains=query) | Q(last_name__icontains=query)
            )
        paginator = Paginator(members.order_by("email"), MEMBERS_PER_PAGE)
        return {
            "members_shown": True,
            "members_total": contact_list.memberships.count() if query else None,
            "members_page": paginator.get_page(request.GET.get("p")),
            "members_query": query,
            "members_addable": self._may_change_members(request, contact_list, "add"),
            "members_removable": self._may_change_members(request, contact_list, "delete"),
        }

    def _may_change_members(self, request, contact_list: ContactList, verb: str) -> bool:
        """Tell whether the person asking may add (`verb` "add") or remove ("delete") this list's
        members: change the list, see contacts, and that right on memberships."""
        return (
            self.has_change_permission(request, contact_list)
            and sees_contacts(request)
            and user_may_change_memberships(request.user, verb)
        )

    def _list_to_change(self, request, object_id, verb: str) -> ContactList:
        contact_list = self.get_object(request, object_id)
        if contact_list is None:
            raise Http404(gettext("No such list."))
        if not self._may_change_members(request, contact_list, verb):
            raise PermissionDenied
        return contact_list

    def members_add_view(self, request, object_id):
        """Add contacts on file to the list by their addresses, pasted; say which are not contacts."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        contact_list = self._list_to_change(request, object_id, "add")
        typed = [word for word in _SEPARATORS.split(request.POST.get("addresses", "")) if word]
        if len(typed) > MEMBERS_ADD_MAX:
            said = gettext("Only the first %(n)s addresses were taken: paste the rest again, or import them.")
            self.message_user(request, said % {"n": grouped(MEMBERS_ADD_MAX)}, messages.WARNING)
            typed = typed[:MEMBERS_ADD_MAX]
        addresses, refused = [], []
        for word in typed:
            try:
                addresses.append(email_canonical(word))
            except ValidationError:
                refused.append(word[:100])
        known = set(Contact.objects.filter(email__in=addresses).values_list("email", flat=True))
        with transaction.atomic():
            contacts_load_test_clear(emails=known)
            added = list_add_contacts(list_ids=[contact_list.pk], emails=sorted(known))
        kept_off, _ids = contacts_kept_off(contact_list=contact_list, emails=sorted(known))
        done = [ngettext("%(n)s contact added.", "%(n)s contacts added.", added) % {"n": grouped(added)}]
        if already := len(known) - added - len(kept_off):
            said = ngettext("%(n)s was on the list already.", "%(n)s were on the list already.", already)
            done.append(said % {"n": grouped(already)})
        self.message_user(request, " ".join(done), messages.SUCCESS)
        if kept_off:
            self.message_user(request, kept_off_message(len(kept_off)), messages.WARNING)
        if unknown := list(dict.fromkeys(address for address in addresses if address not in known)):
            said = gettext("Not contacts yet (import them first): %(addresses)s")
            self.message_user(request, said % {"addresses": words_shown(unknown)}, messages.WARNING)
        if refused:
            said = gettext("Not addresses: %(words)s")
            self.message_user(
                request, said % {"words": words_shown(list(dict.fromkeys(refused)))}, messages.WARNING
            )
        return redirect(reverse("admin:campaigns_contactlist_change", args=[contact_list.pk]) + "#members")

    def members_remove_view(self, request, object_id):
        """Remove the ticked members from the list (they stay contacts)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        contact_list = self._list_to_change(request, object_id, "delete")
        ids = [int(value) for value in request.POST.getlist("member") if value.isascii() and value.isdigit()][
            :MEMBERS_PER_PAGE
        ]
        removed = list_remove_contacts(contact_list=contact_list, contact_ids=ids)
        self.message_user(
            request,
            ngettext("%(n)s contact removed from the list.", "%(n)s contacts removed from the list.", removed)
            % {"n": grouped(removed)},
        )
        return redirect(reverse("admin:campaigns_contactlist_change", args=[contact_list.pk]) + "#members")
