"""The admin's list filters the audience's and the campaigns' pages share."""

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class LoadTestFilter(admin.SimpleListFilter):
    """Leave load-test rows out of a changelist unless asked: they are a load test's, not the
    marketer's. A row stays reachable by its own page whatever the filter says."""

    title = _("load test data")
    parameter_name = "load_test"
    #: The lookup that says a row belongs to a load test.
    flag = "is_load_test"

    def lookups(self, request, model_admin):
        return [("shown", gettext("Shown too")), ("only", gettext("Only load test data"))]

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        choices[0]["display"] = gettext("Hidden")  # The default, which Django would call "All".
        return choices

    def queryset(self, request, queryset):
        if self.value() == "shown":
            return queryset
        if self.value() == "only":
            return queryset.filter(**{self.flag: True})
        # Not filter(flag=False): through a relation that may be empty (a message under no key),
        # that would leave out the rows that have none.
        return queryset.exclude(**{self.flag: True})


class MembershipLoadTestFilter(LoadTestFilter):
    flag = "contact_list__is_load_test"


class MessageLoadTestFilter(LoadTestFilter):
    """A message is a load test's when its API key is one's; Campanile's own have no key."""

    flag = "api_key__is_load_test"


class MarketerRelatedFilter(admin.RelatedFieldListFilter):
    """Filter by a related list or campaign, offering the marketer's only, not every load test's."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to={"is_load_test": False}
        )
