"""The contact import in the admin: upload a file, map its columns and check the first rows, then
watch a worker import it; each import keeps its counts and a downloadable error report."""

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminRadioSelectWidget

from campaigns import import_jobs, selectors
from campaigns.admin_access import sees_contacts, user_may_change_memberships, user_may_import
from campaigns.admin_audience import AudienceListsField
from campaigns.consent import reason_given
from campaigns.exceptions import ImportFileUnreadable, ImportNotStartable
from campaigns.import_files import IMPORT_MAX_BYTES, IMPORT_MAX_ROWS, TableFormat
from campaigns.imports import mapping_problems
from campaigns.models import ContactConsent, ContactImport
from core.exports import csv_response
from core.text import grouped

Target = ContactImport.Target
#: Sample cells shown beside each column on the mapping page.
SAMPLES = 3


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or Excel file"),
        help_text=_("The first line names the columns; one column holds the email addresses."),
    )


class MappingForm(forms.ModelForm):
    """Where each column goes, and the import's options; the mapping's fields are made per column."""

    lists = AudienceListsField(
        queryset=selectors.contact_list_choices(),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        label=_("Add them to these lists"),
    )

    class Meta:
        model = ContactImport
        fields = ["lists", "consent_basis", "consent_note", "existing", "unsubscribed", "resubscribe_reason"]
        widgets = {
            "consent_basis": UnfoldAdminRadioSelectWidget,
            "existing": UnfoldAdminRadioSelectWidget,
            "unsubscribed": UnfoldAdminRadioSelectWidget,
        }

    def __init__(self, *args, lists_offered: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not lists_offered:
            del self.fields["lists"]  # Adding to lists tells who is on them: memberships' right.
        basis = cast(forms.ChoiceField, self.fields["consent_basis"])
        basis.required = True
        basis.choices = ContactConsent.Basis.choices  # The model field's add an empty one.
        for index, (name, column) in enumerate(
            zip(self.instance.header, self.instance.mapping, strict=False)
        ):
            self.fields[f"target_{index}"] = forms.ChoiceField(
                label=name or gettext("(no name)"), choices=Target.choices, initial=column["target"]
            )
            self.fields[f"attribute_{index}"] = forms.CharField(
                label=gettext("Attribute name"),
                max_length=100,
                required=False,
                strip=False,  # A name as written: an export's " city" maps back to " city".
                initial=column["attribute"],
                widget=forms.TextInput(attrs={"placeholder": gettext("if an attribute")}),
            )

    def columns(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        """Return (header name, target field, attribute field) per column, for the page's table."""
        return [
            (name, self[f"target_{index}"], self[f"attribute_{index}"])
            for index, name in enumerate(self.instance.header)
        ]

    def mapping(self) -> list[dict]:
        """Return the mapping the form holds (as sent, or as first guessed)."""
        data: dict = getattr(self, "cleaned_data", None) or {}
        mapping = []
        for index in range(len(self.instance.header)):
            target = data.get(f"target_{index}", self[f"target_{index}"].value())
            attribute = data.get(f"attribute_{index}", self[f"attribute_{index}"].value()) or ""
            if target == Target.ATTRIBUTE and not attribute.strip():
                attribute = self.instance.header[index]
            mapping.append({"target": target, "attribute": attribute if target == Target.ATTRIBUTE else ""})
        return mapping

    def clean(self):
        cleaned = super().clean() or self.cleaned_data
        for problem in mapping_problems(self.mapping()):
            self.add_error(None, problem)
        unsubscribed = cleaned.get("unsubscribed")
        if unsubscribed == ContactImport.Unsubscribed.RESUBSCRIBE and not reason_given(
            cleaned.get("resubscribe_reason", "")
        ):
            self.add_error(
                "resubscribe_reason", gettext("Say why those who unsubscribed may be mailed again.")
            )
        return cleaned


@admin.register(ContactImport)
class ContactImportAdmin(ModelAdmin):
    """Imports, newest first; adding one is the wizard, opening one its mapping or its progress."""

    list_display = [
        "file_name",
        "status_badge",
        "rows_shown",
        "created_shown",
        "updated_shown",
        "failed_shown",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]
    list_display_links = ["file_name"]
    search_fields = ["file_name"]

    def has_add_permission(self, request) -> bool:
        return user_may_import(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_add_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        """See imports only as one who may see contacts: the error report holds their rows."""
        return super().has_view_permission(request, obj) and sees_contacts(request)

    def has_module_permission(self, request) -> bool:
        return super().has_module_permission(request) and sees_contacts(request)

    @admin.display(description=_("Status"))
    def status_badge(self, obj):
        return format_html(
            '<span class="cp-badge cp-import-{}">{}</span>', obj.status, obj.get_status_display()
        )

    @admin.display(description=_("New contacts"), ordering="created")
    def created_shown(self, obj):
        return grouped(obj.created)

    @admin.display(description=_("Contacts updated"), ordering="updated")
    def updated_shown(self, obj):
        return grouped(obj.updated)

    @admin.display(description=_("Rows not imported"), ordering="failed")
    def failed_shown(self, obj):
        return grouped(obj.failed)

    @admin.display(description=_("Rows"), ordering="rows_total")
    def rows_shown(self, obj):
        if obj.status in (ContactImport.Status.QUEUED, ContactImport.Status.RUNNING):
            return f"{grouped(obj.rows_done)} / {grouped(obj.rows_total)}"
        return grouped(obj.rows_total)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/errors.csv",
                view(self.errors_csv_view),
                name="campaigns_contactimport_errors",
            ),
            *super().get_urls(),
        ]

    def _context(self, request, job: ContactImport | None, title, **context) -> dict:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "original": job,
            "has_view_permission": self.has_view_permission(request, job),
            **context,
        }

    def add_view(self, request, form_url="", extra_context=None):
        """Upload a file: it is read through once (format, columns, rows) before anything is kept."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > IMPORT_MAX_BYTES:
                form.add_error(
                    "file",
                    gettext("The file is larger than %(n)d MB: split it.") % {"n": IMPORT_MAX_BYTES // 2**20},
                )
            else:
                try:
                    job = import_jobs.contact_import_create(
                        file_name=upload.name, data=upload.read(), user=request.user
                    )
                except ImportFileUnreadable as exc:
                    form.add_error("file", str(exc))
                else:
                    return redirect(reverse("admin:campaigns_contactimport_change", args=[job.pk]))
        context = self._context(
            request,
            None,
            gettext("Import contacts"),
            form=form,
            max_rows=grouped(IMPORT_MAX_ROWS),
            max_megabytes=IMPORT_MAX_BYTES // 2**20,
        )
        return TemplateResponse(request, "admin/campaigns/contactimport/upload.html", context)

    def _job_or_404(self, request, object_id) -> ContactImport:
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404(gettext("No such import."))
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """An import waiting for its mapping shows the mapping; any other, its progress or result."""
        job = self._job_or_404(request, object_id)
        if job.status == ContactImport.Status.MAPPING:
            return self._mapping_view(request, job)
        template = "admin/campaigns/contactimport/"
        template += "_progress.html" if request.headers.get("HX-Request") == "true" else "progress.html"
        live = job.status in (ContactImport.Status.QUEUED, ContactImport.Status.RUNNING)
        context = self._context(
            request,
            job,
            job.file_name,
            live_url=reverse("admin:campaigns_contactimport_change", args=[job.pk]) if live else "",
            errors_shown=job.errors[:20],
            lists=list(job.lists.all()),
        )
        return TemplateResponse(request, template, context)

    def _mapping_view(self, request, job: ContactImport):
        """Map each column, choose the options, check the first rows; start when they look right."""
        lists_offered = user_may_change_memberships(request.user, "add")
        if request.method == "POST" and not self.has_change_permission(request, job):
            raise PermissionDenied
        if request.method == "POST" and not lists_offered and request.POST.getlist("lists"):
            raise PermissionDenied  # Lists not offered, sent all the same.
        form = MappingForm(request.POST or None, instance=job, lists_offered=lists_offered)
        if request.method == "POST" and "_start" in request.POST and form.is_valid():
            options = {name: form.cleaned_data[name] for name in MappingForm.Meta.fields if name != "lists"}
            try:
                import_jobs.contact_import_start(
                    job=job, mapping=form.mapping(), lists=list(form.cleaned_data.get("lists", [])), **options
                )
            except ImportNotStartable as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, gettext("The import has started."), messages.SUCCESS)
                return redirect(reverse("admin:campaigns_contactimport_change", args=[job.pk]))
        if request.method == "POST":
            form.is_valid()  # The checks' messages, on a "check" as on a refused start.
        mapping = form.mapping()
        preview = import_jobs.contact_import_preview(job=job, mapping=mapping)
        samples = [
            [row.cells[index] if index < len(row.cells) else "" for row in preview[:SAMPLES]]
            for index in range(len(job.header))
        ]
        context = self._context(
            request,
            job,
            gettext("Map the columns of %(file)s") % {"file": job.file_name},
            form=form,
            columns=[(*column, samples[index]) for index, column in enumerate(form.columns())],
            preview=preview,
            options=[form[name] for name in MappingForm.Meta.fields if name in form.fields],
            described=TableFormat(
                kind=job.file_kind, encoding=job.encoding, delimiter=job.delimiter
            ).describe(),
            email_column=next(
                (index for index, column in enumerate(mapping) if column["target"] == Target.EMAIL), None
            ),
        )
        return TemplateResponse(request, "admin/campaigns/contactimport/mapping.html", context)

    def errors_csv_view(self, request, object_id):
        """Download the rows not imported as they asked, as the file had them, with line and problem."""
        job = self._job_or_404(request, object_id)
        # Named by id: the uploaded name may hold anything, quotes and line breaks included.
        return csv_response(
            import_jobs.contact_import_report_rows(job=job), f"import-{job.pk}-not-imported.csv"
        )
