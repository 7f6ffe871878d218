"""The admin of load test runs: start one (it runs on a Celery worker) and read its verdict."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from loadtest import proof, runner, tasks
from loadtest.exceptions import LoadTestError
from loadtest.models import LoadTestRun


class LoadTestRunForm(forms.ModelForm):
    """Start a load test; its recipients are checked here, so a refusal shows on the form."""

    class Meta:
        model = LoadTestRun
        fields = ["messages", "rate", "via", "ses", "to", "kill_worker_at", "allow_real_recipients"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        check = LoadTestRun(
            messages=1, to=data.get("to", ""), allow_real_recipients=data.get("allow_real_recipients", False)
        )
        try:
            proof.loadtest_addresses(run=check)
        except LoadTestError as exc:
            raise ValidationError({"to": str(exc)}) from exc
        return data


@admin.register(LoadTestRun)
class LoadTestRunAdmin(ModelAdmin):
    """Load test runs: start one (it runs on a Celery worker) and read its verdict."""

    list_display = ["label", "messages", "rate", "via", "ses", "verdict", "duplicates", "missing"]
    list_display += ["created_at"]
    list_filter = ["status", "via", "ses"]
    form = LoadTestRunForm
    fields = tuple(LoadTestRunForm.Meta.fields)
    readonly_fields = ["label", "verdict", "started_by", "created_at", "finished_at", "summary"]

    @admin.display(description=_("Verdict"), ordering="status")
    def verdict(self, obj):
        return proof.loadtest_verdict(run=obj)

    @admin.display(description=_("Duplicates"))
    def duplicates(self, obj):
        return obj.report.get("duplicates", "–")

    @admin.display(description=_("Missing"))
    def missing(self, obj):
        return obj.report.get("missing", "–")

    @admin.display(description=_("Report"))
    def summary(self, obj):
        if obj.status in (LoadTestRun.Status.QUEUED, LoadTestRun.Status.RUNNING):
            return _("Not finished yet: reload this page.")
        return format_html("<pre>{}</pre>", proof.loadtest_summary(run=obj))

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else [*self.readonly_fields, *self.fields]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else [*self.readonly_fields, *LoadTestRunForm.Meta.fields]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        try:
            run = runner.loadtest_create(
                **{field: form.cleaned_data[field] for field in LoadTestRunForm.Meta.fields},
                started_by=request.user.get_username(),
            )
        except LoadTestError as exc:
            raise PermissionDenied(str(exc)) from exc
        obj.pk, obj.label = run.pk, run.label
        transaction.on_commit(lambda: tasks.loadtest_run.delay(run.pk))
