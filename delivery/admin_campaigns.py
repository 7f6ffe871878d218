"""The campaign's and the template's pages that delivery adds: test sends, progress, the sender check,
re-queueing unconfirmed emails and retrying failed ones. console.admin composes them."""

from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_noop, ngettext
from django.utils.translation import gettext_lazy as _

from campaigns import selectors as campaign_selectors
from campaigns.admin_access import sees_contacts, sees_memberships
from campaigns.admin_tabs import campaign_tab
from campaigns.exceptions import InvalidTransition
from campaigns.models import Campaign
from campaigns.selectors import CheckItem
from campaigns.services import Actor
from core.addresses import email_canonical, email_normalize, mailbox_parse
from core.exceptions import CampanileError
from core.text import grouped
from delivery.exceptions import SuppressedRecipient
from delivery.models import StepExecution
from delivery.selectors import (
    campaign_progress,
    campaign_status_shown,
    campaign_step_progress,
    step_execution_counts,
)
from delivery.services import (
    REQUEUE_MAX_AGE,
    campaign_requeue_unknown,
    campaign_retry_failed,
)
from delivery.ses import SenderVerification, ses_sender_verification
from delivery.test_sends import campaign_send_test, template_send_test

#: How old the last page's count may be to give a rate: an older one (or a hand-made one) says nothing.
RATE_WINDOW_SECONDS = 3600


def _rate_since(query, *, sent: int, now: float) -> float | None:
    """Return the emails sent per second since the last page's count and time, carried in its
    refresh link (no per-minute query), or None without a sensible pair."""
    try:
        before, at = int(query["sent"]), float(query["at"])
    except (KeyError, ValueError, OverflowError):
        return None
    if not (0 <= before <= sent and 0 < now - at <= RATE_WINDOW_SECONDS):
        return None  # Out of range: typed by hand, not carried by the page.
    return (sent - before) / (now - at)


def address_validate_one(raw: str) -> str:
    """Return one address of a test's list in its stored form, or raise ValidationError naming it.

    A name may come with it ("Me <me@acme.com>"); the bare address is what the suppression list is
    checked for and what the test goes to.
    """
    mailbox = mailbox_parse(raw, recipient=True)
    # The header parser drops comments and spaces inside an address (`t (x)@example.com`); the
    # address rule refuses them, naming the character, as on every other path.
    written = raw.strip()
    if written.endswith(">") and "<" in written:
        written = written[written.rindex("<") + 1 : -1]
    email_canonical(written)
    return mailbox.address


# Marked here, translated when shown (gettext in campaign_checklist).
SENDER_VERIFICATION_SAYS = {
    SenderVerification.VERIFIED: gettext_noop("SES lets %(address)s send."),
    SenderVerification.PENDING: gettext_noop(
        "SES is still verifying %(address)s or its domain: follow its email or DNS steps."
    ),
    SenderVerification.UNVERIFIED: gettext_noop(
        "SES has not verified %(address)s or its domain and would refuse every email: verify it first."
    ),
    SenderVerification.UNKNOWN: gettext_noop(
        "SES could not be asked about %(address)s just now; it refuses mail from unverified senders."
    ),
}


#: What a test send refused for a suppressed or unsubscribed address says to whoever may not see which.
UNSENDABLE = gettext_noop("Nothing was sent: one or more of these addresses can never be mailed.")


def _sees_suppressions(request) -> bool:
    """Tell whether this person may read which addresses are suppressed or unsubscribed, and why."""
    return sees_contacts(request) and request.user.has_perm("campaigns.view_suppression")


def test_addresses_parse(raw: str) -> list[str]:
    """Return the distinct addresses of a test's list, separated by commas or semicolons (one
    mailbox once, however it is spelled), or raise ValidationError naming the first that is not an
    address."""
    addresses = [address_validate_one(part) for part in _list_split(raw) if part.strip()]
    distinct: dict[str, str] = {}
    for address in addresses:
        distinct.setdefault(email_normalize(address), address)
    return list(distinct.values())


def _list_split(raw: str) -> list[str]:
    """Split a list of addresses at its commas and semicolons, but not at those inside a quoted
    name ("Doe, John" <j@example.com>) or angle brackets."""
    parts: list[str] = []
    part: list[str] = []
    quoted = bracketed = False
    for char in raw:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "<>":
            bracketed = char == "<"
        elif char in ",;" and not (quoted or bracketed):
            parts.append("".join(part))
            part = []
            continue
        part.append(char)
    return [*parts, "".join(part)]


def _message_of(exc: Exception) -> str:
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def _nothing_sent(exc: Exception) -> str:
    """Say that a test send failed, and why (the reason in its own words)."""
    return gettext("Nothing was sent: %(problem)s") % {"problem": _message_of(exc)}


def _test_sent(addresses: list[str], ids: list[str]) -> str:
    """Say where a test went, with SES's message ids."""
    return gettext("Test sent to %(addresses)s (SES ids %(ids)s).") % {
        "addresses": ", ".join(addresses),
        "ids": ", ".join(ids),
    }


@admin.action(description=_("Retry failed recipients of selected campaigns"), permissions=["change"])
def campaign_retry_failed_action(modeladmin, request, queryset):
    """Put each selected campaign's failed rows back in its queue (never its unknown ones)."""
    for campaign in queryset.order_by("pk"):
        try:
            retried = campaign_retry_failed(campaign=campaign)
        except InvalidTransition as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                ngettext(
                    "“%(name)s”: %(count)s failed recipient queued again.",
                    "“%(name)s”: %(count)s failed recipients queued again.",
                    retried,
                )
                % {"name": campaign.name, "count": grouped(retried)},
            )


if TYPE_CHECKING:  # The mixin's methods use the campaign admin's; at run time it is a plain class.
    from campaigns.admin_campaigns import CampaignAdminBase as _CampaignAdmin
else:
    _CampaignAdmin = object


class CampaignDeliveryMixin(_CampaignAdmin):
    """What the ledger adds to the campaign admin: test sends, progress, counts, retrying failures.

    A mixin over campaigns.admin_campaigns.CampaignAdminBase; console.admin composes and registers them.
    """

    #: Added to the composed admin's actions and read-only fields.
    delivery_actions = [campaign_retry_failed_action]
    delivery_readonly_fields = ["progress", "steps_progress"]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/test/", view(self.test_send_view), name="campaigns_campaign_test_send"),
            path("<path:object_id>/progress/", view(self.progress_view), name="campaigns_campaign_progress"),
            path(
                "<path:object_id>/requeue-unknown/",
                view(self.requeue_unknown_view),
                name="campaigns_campaign_requeue_unknown",
            ),
            *super().get_urls(),
        ]

    def test_send_view(self, request, object_id):
        """Send one step, rendered for a chosen contact, to a few addresses now (POST).

        The email shows a contact's data: only to those who may see contacts, as the preview.
        """
        campaign = self._campaign_or_404(request, object_id, change=True)
        if not sees_contacts(request):
            raise PermissionDenied
        steps = list(campaign.steps.select_related("template", "campaign").order_by("order"))
        form = {"addresses": request.user.email, "contact": "", "step": steps[0].order if steps else 1}
        if request.method == "POST":
            form = {key: request.POST.get(key, "").strip() for key in form}
            try:
                addresses = test_addresses_parse(form["addresses"])
                step = next((s for s in steps if str(s.order) == form["step"]), None)
                contact = campaign_selectors.preview_contact(
                    campaign=campaign, wanted=form["contact"], may_see_memberships=sees_memberships(request)
                )
                if step is None or contact is None:
                    raise ValueError(gettext("Choose a step, and a contact to render the email for."))
                ids = campaign_send_test(step=step, contact=contact, addresses=addresses)
            except SuppressedRecipient as exc:
                shown = _nothing_sent(exc) if _sees_suppressions(request) else gettext(UNSENDABLE)
                self.message_user(request, shown, messages.ERROR)
            except (ValueError, ValidationError, CampanileError) as exc:
                self.message_user(request, _nothing_sent(exc), messages.ERROR)
            else:
                self.message_user(request, _test_sent(addresses, ids), messages.SUCCESS)
                return redirect(reverse("admin:campaigns_campaign_test_send", args=[campaign.pk]))
        return self._page(
            request,
            campaign,
            "test_send.html",
            gettext("Send a test: %(name)s") % {"name": campaign.name},
            tab="preview",
            steps=steps,
            form=form,
            sees_memberships=sees_memberships(request),
        )

    def campaign_checklist(self, campaign: Campaign) -> list[CheckItem]:
        """Add, after the sender, whether SES lets it send (its address or domain verified)."""
        items = super().campaign_checklist(campaign)
        try:
            address = mailbox_parse(campaign.from_email).address
        except ValidationError:
            return items  # The sender's own item says what is wrong with it.
        verification = ses_sender_verification(address=address)
        verified = CheckItem(
            gettext("Sender verified"),
            verification == SenderVerification.VERIFIED,
            gettext(SENDER_VERIFICATION_SAYS[verification]) % {"address": address},
            # SES refuses every email from an unverified sender; unanswered, it is only advice.
            required=verification != SenderVerification.UNKNOWN,
        )
        return [*items[:1], verified, *items[1:]]

    def campaign_tabs(self, campaign: Campaign) -> list[dict[str, str | Promise]]:
        return [
            *super().campaign_tabs(campaign),
            campaign_tab(campaign, "test", _("Send a test"), "test_send", within="preview"),
            campaign_tab(campaign, "progress", _("Progress"), "progress"),
        ]

    def scheduled_url(self, campaign: Campaign) -> str:
        """A campaign just scheduled is watched on its progress page."""
        return reverse("admin:campaigns_campaign_progress", args=[campaign.pk])

    def progress_view(self, request, object_id):
        """Show where the campaign's rows stand and how fast it sends, live from scheduled to done.

        The page polls itself with htmx every few seconds (its figures part only) until the
        campaign is completed or cancelled, then links to the report.
        """
        campaign = self._campaign_or_404(request, object_id)
        counts = step_execution_counts(campaign=campaign)
        now = timezone.now()
        sent = counts.get(StepExecution.Status.SENT, 0)
        rate = _rate_since(request.GET, sent=sent, now=now.timestamp())
        statuses = [(status.label, counts.get(status.value, 0)) for status in StepExecution.Status]
        progress = campaign_progress(campaign=campaign, counts=counts, rate=rate)
        live = request.path + f"?sent={sent}&at={now.timestamp():.3f}"
        steps = campaign_step_progress(campaign=campaign)
        response = self._page(
            request,
            campaign,
            "progress.html",
            gettext("Progress: %(name)s") % {"name": campaign.name},
            tab="progress",
            statuses=statuses,
            total=sum(counts.values()),
            rate=rate,
            progress=progress,
            live_url="" if progress["finished"] else live,
            steps=steps,
            # A drip's later steps make their emails when each contact's turn comes: not yet counted.
            waiting=0 if progress["finished"] else sum(step["waiting"] for step in steps),
            fan_out=self._fan_out_shown(campaign),
            status_shown=campaign_status_shown(campaign=campaign, counts=counts),
            unconfirmed=counts.get(StepExecution.Status.UNKNOWN, 0),
        )
        if request.headers.get("HX-Request") == "true":  # htmx's poll: the figures alone…
            response.template_name = "admin/campaigns/campaign/_progress_live.html"
            report = response.context_data["tab_urls"].get("report")
            if progress["finished"] and report:
                response["HX-Redirect"] = report  # …until it is done: the page turns into the report.
        return response

    def requeue_unknown_view(self, request, object_id):
        """Re-queue unconfirmed rows older than N minutes, behind a page that states the risk (POST)."""
        campaign = self._campaign_or_404(request, object_id, change=True)
        form = {"minutes": request.POST.get("minutes", "60").strip()}
        if request.method == "POST":
            actor = Actor(name=f"{request.user.get_username()} (admin)", user=request.user)
            try:
                minutes = int(form["minutes"])
                if not 1 <= minutes <= REQUEUE_MAX_AGE.total_seconds() // 60:
                    raise ValueError
                moved = campaign_requeue_unknown(
                    campaign=campaign, older_than=timedelta(minutes=minutes), actor=actor
                )
            except ValueError:
                self.message_user(
                    request,
                    gettext("Give a whole number of minutes, from 1 to ten years' worth."),
                    messages.ERROR,
                )
            except InvalidTransition as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)s unconfirmed email queued again.",
                        "%(count)s unconfirmed emails queued again.",
                        moved,
                    )
                    % {"count": grouped(moved)},
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:campaigns_campaign_progress", args=[campaign.pk]))
        counts = step_execution_counts(campaign=campaign)
        return self._page(
            request,
            campaign,
            "requeue_unknown.html",
            gettext("Re-queue unconfirmed emails: %(name)s") % {"name": campaign.name},
            tab="progress",
            unconfirmed=counts.get(StepExecution.Status.UNKNOWN, 0),
            form=form,
        )

    @admin.display(description=_("Status"), ordering="status")
    def status_shown(self, obj):
        return format_html(
            '<span class="cp-badge cp-{}">{}</span>', obj.status, campaign_status_shown(campaign=obj)
        )

    @admin.display(description=_("Progress"))
    def progress(self, obj):
        if obj.pk is None:
            return "—"
        # The ledger's tallies, not a count of its rows: the page costs the same at a million.
        counts = step_execution_counts(campaign=obj)
        labels = dict(StepExecution.Status.choices)
        summary = " · ".join(
            f"{labels.get(status, status)} {grouped(n)}" for status, n in sorted(counts.items()) if n
        )
        summary = summary or gettext("No recipients queued yet.")
        done = self._fan_out_done(obj)
        if done is not None:
            summary = gettext("Queueing recipients: %(done)s%% of contact ids done · %(summary)s") % {
                "done": done,
                "summary": summary,
            }
        return summary

    def _fan_out_done(self, obj) -> int | None:
        """Return the percentage of contact ids a step still fanning out has queued, or None."""
        fanning = obj.steps.filter(fan_out_until__isnull=False, fanned_out_at__isnull=True).first()
        if fanning is None or not fanning.fan_out_until:
            return None
        return min(100, round(100 * fanning.fan_out_cursor / fanning.fan_out_until))

    def _fan_out_shown(self, obj) -> str:
        """Return the progress line while recipients are being queued, else nothing."""
        return self.progress(obj) if self._fan_out_done(obj) is not None else ""

    @admin.display(description=_("Contacts per step"))
    def steps_progress(self, obj):
        if obj.pk is None:
            return "—"
        columns = ("waiting", "queued", "sent", "skipped", "exited", "stopped")
        headings = (
            gettext("Step"),
            gettext("Waiting"),
            gettext("Queued"),
            gettext("Sent"),
            gettext("Skipped"),
            gettext("Exited"),
            gettext("Stopped"),
        )
        head = format_html_join("", "<th>{}</th>", [(heading,) for heading in headings])
        body = format_html_join(
            "",
            '<tr><td title="{}">{}</td>' + "<td>{}</td>" * len(columns) + "</tr>",
            [
                (row["summary"], row["order"], *[grouped(row[name]) for name in columns])
                for row in campaign_step_progress(campaign=obj)
            ],
        )
        return format_html(
            "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table><p>{}</p>",
            head,
            body,
            gettext(
                "Waiting: passed the step before, not yet due here. Skipped: left out by the step's "
                "condition, or taking a break, going on to the next. Exited: left the campaign here. "
                "Stopped: suppressed, failed or unknown."
            ),
        )


if TYPE_CHECKING:  # The mixin's methods use the template admin's; at run time it is a plain class.
    from campaigns.admin_templates import TemplateAdminBase as _TemplateAdmin
else:
    _TemplateAdmin = object


class TemplateTestSendMixin(_TemplateAdmin):
    """What delivery adds to the template editor: a test send of the template as the form holds it.

    A mixin over campaigns.admin_templates.TemplateAdminBase; console.admin composes and registers them.
    """

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("test/", view(self.template_test_view), name="campaigns_template_test_send"),
            *super().get_urls(),
        ]

    def template_test_view(self, request):
        """Send the template as the form holds it, for the preview's contact, to a few addresses (htmx)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        template, contact, _sample = self.edited_template(request)
        try:
            addresses = test_addresses_parse(request.POST.get("test_addresses", ""))
            ids = template_send_test(template=template, contact=contact, addresses=addresses)
        except SuppressedRecipient as exc:
            sent, text = False, _nothing_sent(exc) if _sees_suppressions(request) else gettext(UNSENDABLE)
        except (ValueError, ValidationError, CampanileError) as exc:
            sent, text = False, _nothing_sent(exc)
        else:
            sent, text = True, _test_sent(addresses, ids)
        return TemplateResponse(
            request, "admin/campaigns/template/_test_sent.html", {"sent": sent, "text": text}
        )
