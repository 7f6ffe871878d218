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
        return queryset.filter(**{self.flag: self.value() == "only"})


class MembershipLoadTestFilter(LoadTestFilter):
    flag = "contact_list__is_load_test"


class MarketerRelatedFilter(admin.RelatedFieldListFilter):
    """Filter by a related list or campaign, offering the marketer's only, not every load test's."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to={"is_load_test": False}
        )
