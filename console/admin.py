"""The admin pages that several apps contribute to, composed and registered once, here.

Each app contributes what it owns without knowing the apps above it: campaigns the base pages,
delivery the ledger's pages and actions, tracking the report and the timeline.
"""

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db.models import Model
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin

from campaigns.admin import ContactAdminBase
from campaigns.admin_access import user_sees_model
from campaigns.admin_campaigns import CampaignAdminBase
from campaigns.admin_segments import SegmentAdmin as SegmentAdminBase
from campaigns.admin_signups import SignupFormAdminBase
from campaigns.admin_templates import TemplateAdminBase
from campaigns.models import Campaign, Contact, Segment, SignupForm, Template
from console.admin_personal_data import ContactPersonalDataMixin
from delivery.admin_campaigns import CampaignDeliveryMixin, TemplateTestSendMixin
from delivery.models import StepExecution
from tracking.admin import ContactTimelineMixin
from tracking.admin_report import CampaignReportMixin
from tracking.admin_signups import SignupFormPublicMixin
from tracking.models import TrackingEvent

#: The ledger's fieldset on a campaign's page (the title is how get_fieldsets finds it too).
PROGRESS_FIELDSET = _("Progress")


@admin.register(Campaign)
class CampaignAdmin(CampaignReportMixin, CampaignDeliveryMixin, CampaignAdminBase):
    """A campaign: its form and status moves, preview, test send, progress, report and exports."""

    # The status as people read it: "Completed — N unconfirmed" while SES's fate of some is unknown;
    # then how it did.
    list_display = [
        *("status_shown" if name == "status" else name for name in CampaignAdminBase.list_display),
        *CampaignReportMixin.report_list_display,
    ]
    actions = [*CampaignAdminBase.actions, *CampaignDeliveryMixin.delivery_actions]
    readonly_fields = [*CampaignAdminBase.readonly_fields, *CampaignDeliveryMixin.delivery_readonly_fields]
    fieldsets = [
        *CampaignAdminBase.fieldsets,
        (PROGRESS_FIELDSET, {"fields": CampaignDeliveryMixin.delivery_readonly_fields}),
    ]
    existing_only_fieldsets = (*CampaignAdminBase.existing_only_fieldsets, PROGRESS_FIELDSET)


class SegmentAdmin(SegmentAdminBase):
    """A segment: its editor and count, which counts by campaign mail for those who may see the send
    log and its events (delivery's ledger rows, tracking's events)."""

    def sees_campaign_mail(self, request) -> bool:
        return all(user_sees_model(request.user, model) for model in (StepExecution, TrackingEvent))


admin.site.unregister(Segment)
admin.site.register(Segment, SegmentAdmin)


@admin.register(Template)
class TemplateAdmin(TemplateTestSendMixin, TemplateAdminBase):
    """A template: its form, the live preview as a contact, its variables, and a test send."""


@admin.register(SignupForm)
class SignupFormAdmin(SignupFormPublicMixin, SignupFormAdminBase):
    """A signup form: its settings, its page's address and the HTML to embed it elsewhere."""

    readonly_fields = SignupFormPublicMixin.public_readonly_fields

    def get_fieldsets(self, request, obj=None):
        # A saved form's page and snippet come first: what a marketer opens it for.
        return (
            [SignupFormPublicMixin.public_fieldset, *SignupFormAdminBase.fieldsets]
            if obj
            else SignupFormAdminBase.fieldsets
        )


@admin.register(Contact)
class ContactAdmin(ContactPersonalDataMixin, ContactTimelineMixin, ContactAdminBase):
    """A contact: its fields, lists, the timeline of everything sent to it and seen of it, all of it
    as one JSON download (a subject access request), and its erasure."""

    readonly_fields = [
        *ContactAdminBase.readonly_fields,
        *ContactTimelineMixin.tracking_readonly_fields,
        *ContactPersonalDataMixin.personal_data_readonly_fields,
    ]
    actions = [*ContactAdminBase.actions, *ContactPersonalDataMixin.personal_data_actions]


class BeatScheduleAdmin(PeriodicTaskAdmin):
    """Beat's schedule, as django-celery-beat shows it: its list actions (enable, disable, toggle,
    run now) change when campaigns recur and whether bounces are applied, so, like its pages'
    changes, they are a superuser's only (the library offers them to whoever may view the list)."""

    def get_actions(self, request):
        return super().get_actions(request) if request.user.is_superuser else {}


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, BeatScheduleAdmin)


def _restyle(model: type[Model]) -> None:
    """Register a library's admin page again, on the theme's ModelAdmin, so it looks like the rest."""
    current = type(admin.site.get_model_admin(model))
    admin.site.unregister(model)
    admin.site.register(model, type(current.__name__, (current, ModelAdmin), {"__module__": __name__}))


# Django's users and groups, beat's schedules, the second factor's devices and the login lockouts.
for _model in (
    User,
    Group,
    PeriodicTask,
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    SolarSchedule,
    TOTPDevice,
    StaticDevice,
    AccessAttempt,
    AccessLog,
    AccessFailureLog,
):
    _restyle(_model)
