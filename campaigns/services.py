"""Writes and rules of the audience, templates and the campaign status machine."""

from dataclasses import dataclass
from email.utils import parseaddr

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.template import Context, Engine, TemplateSyntaxError
from django.template import Template as DjangoTemplate
from django.utils import timezone
from inscriptis import get_text

from campaigns.exceptions import CampaignNotReady, InvalidTransition, TemplateRenderError
from campaigns.models import ApiKey, Campaign, Contact, Suppression, Template, email_normalize

# A private engine: templates written in the admin see only the context we hand them, never the
# project's template dirs or loaders, and a missing variable renders as an empty string.
_EMAIL_ENGINE = Engine(string_if_invalid="", autoescape=True)

Status = Campaign.Status

#: action → (statuses it may start from, status it leads to). None: decided by the action.
CAMPAIGN_TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "schedule": (frozenset({Status.DRAFT}), Status.SCHEDULED),
    "unschedule": (frozenset({Status.SCHEDULED}), Status.DRAFT),
    "start": (frozenset({Status.SCHEDULED}), Status.SENDING),
    "pause": (frozenset({Status.SCHEDULED, Status.SENDING}), Status.PAUSED),
    "resume": (frozenset({Status.PAUSED}), None),
    "complete": (frozenset({Status.SENDING}), Status.COMPLETED),
    "cancel": (frozenset({Status.DRAFT, Status.SCHEDULED, Status.SENDING, Status.PAUSED}), Status.CANCELLED),
}


# --- Addresses ------------------------------------------------------------------------------------


def address_validate(*, value: str, field: str) -> None:
    """Raise ValidationError unless value is one address, optionally with a display name."""
    if "\r" in value or "\n" in value:
        raise ValidationError({field: "Line breaks are not allowed in an address."})
    _name, address = parseaddr(value)
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError({field: f"{value!r} is not a valid address."}) from None


# --- Templates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class CompiledTemplate:
    """A template compiled once and rendered for many contacts."""

    name: str
    subject: DjangoTemplate
    html: DjangoTemplate | None
    text: DjangoTemplate | None


def template_compile(*, template: Template) -> CompiledTemplate:
    """Compile a template's parts, raising TemplateRenderError naming the broken part."""
    parts = {}
    for part in ("subject", "html_body", "text_body"):
        source = getattr(template, part)
        try:
            parts[part] = _EMAIL_ENGINE.from_string(source) if source else None
        except TemplateSyntaxError as exc:
            raise TemplateRenderError(f"{part}: {exc}") from exc
    return CompiledTemplate(
        name=template.name, subject=parts["subject"], html=parts["html_body"], text=parts["text_body"]
    )


def template_validate(*, template: Template) -> None:
    """Raise ValidationError on the field whose template syntax is broken."""
    if not template.html_body and not template.text_body:
        raise ValidationError("A template needs an HTML body, a text body, or both.")
    try:
        template_compile(template=template)
    except TemplateRenderError as exc:
        field, _, message = str(exc).partition(": ")
        raise ValidationError({field: message}) from exc


def template_context(*, contact: Contact) -> dict:
    """Return what a template may see of a contact: plain data, never the model and its methods."""
    return {
        "contact": {
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "full_name": contact.full_name,
            "external_id": contact.external_id,
            "timezone": contact.timezone,
        },
        "attributes": contact.attributes or {},
    }


def template_render(*, compiled: CompiledTemplate, contact: Contact) -> RenderedEmail:
    """Render subject, HTML and text for one contact; derive the text part from HTML if absent."""
    context = template_context(contact=contact)
    try:
        # Subject and text are not HTML: escaping would show "&amp;" to the reader.
        subject = compiled.subject.render(Context(context, autoescape=False))
        html = compiled.html.render(Context(context)) if compiled.html else ""
        if compiled.text:
            text = compiled.text.render(Context(context, autoescape=False))
        else:
            text = get_text(html).strip()
    except Exception as exc:  # A template filter can raise anything; it fails this one email only.
        raise TemplateRenderError(f"{compiled.name}: {exc}") from exc
    # A header must stay on one line, whatever a contact's data holds.
    subject = " ".join(subject.split())
    return RenderedEmail(subject=subject, html=html, text=text)


# --- API keys -------------------------------------------------------------------------------------


def api_key_create(*, name: str, expiry_date=None, rate_limit: str = "") -> tuple[ApiKey, str]:
    """Create an API key and return it with its secret, which is never stored and never shown again."""
    api_key = ApiKey(name=name, expiry_date=expiry_date, rate_limit=rate_limit)
    api_key.full_clean(exclude=["id", "prefix", "hashed_key"])
    key = ApiKey.objects.assign_key(api_key)
    api_key.save()
    return api_key, key


# --- Suppression ----------------------------------------------------------------------------------


def suppression_add(*, email: str, reason: str, source: str, detail: str = "") -> tuple[Suppression, bool]:
    """Suppress an address; return the row and whether it is new. The first reason is kept."""
    return Suppression.objects.get_or_create(
        email=email_normalize(email), defaults={"reason": reason, "source": source, "detail": detail}
    )


def contact_unsubscribe(*, contact: Contact) -> Contact:
    """Mark a contact unsubscribed; idempotent."""
    if contact.status != Contact.Status.UNSUBSCRIBED:
        contact.status = Contact.Status.UNSUBSCRIBED
        contact.unsubscribed_at = timezone.now()
        contact.save(update_fields=["status", "unsubscribed_at", "updated_at"])
    return contact


# --- Campaign status machine ----------------------------------------------------------------------


def _campaign_transition(*, campaign: Campaign, action: str) -> Campaign:
    """Move a campaign along CAMPAIGN_TRANSITIONS under a row lock, or raise InvalidTransition."""
    allowed_from, target = CAMPAIGN_TRANSITIONS[action]
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in allowed_from:
            allowed = ", ".join(sorted(Status(s).label.lower() for s in allowed_from))
            raise InvalidTransition(
                f"Cannot {action} campaign “{locked.name}”: it is {locked.get_status_display().lower()}, "
                f"and {action} applies only to a campaign that is {allowed}."
            )
        # Resume goes back to where the campaign was: sending if it had started, else scheduled.
        locked.status = target or (Status.SENDING if locked.started_at else Status.SCHEDULED)
        now = timezone.now()
        if locked.status == Status.SENDING and locked.started_at is None:
            locked.started_at = now
        if locked.status in (Status.COMPLETED, Status.CANCELLED):
            locked.completed_at = now
        locked.save(update_fields=["status", "started_at", "completed_at", "updated_at"])
    campaign.refresh_from_db()
    return campaign


def campaign_check_ready(*, campaign: Campaign) -> None:
    """Raise CampaignNotReady, saying what is missing, unless the campaign can be sent."""
    problems = []
    steps = list(campaign.steps.select_related("template"))
    if not steps:
        problems.append("it has no steps")
    elif len(steps) > 1:
        # Sending follows only the first step until per-recipient drip timing exists; refusing
        # beats silently dropping steps 2..n.
        problems.append("multi-step (drip) campaigns cannot be sent yet; keep one step")
    if not campaign.lists.exists():
        problems.append("it has no audience lists")
    try:
        address_validate(value=campaign.from_email, field="from_email")
    except ValidationError:
        problems.append(f"its sender {campaign.from_email!r} is not a valid address")
    for step in steps:
        try:
            template_compile(template=step.template)
        except TemplateRenderError as exc:
            problems.append(f"step {step.order}'s template does not compile ({exc})")
    if problems:
        raise CampaignNotReady(f"Campaign “{campaign.name}” cannot be scheduled: {'; '.join(problems)}.")


def campaign_schedule(*, campaign: Campaign) -> Campaign:
    """Schedule a draft campaign; it starts at scheduled_at, or at the next tick if that is empty."""
    campaign_check_ready(campaign=campaign)
    with transaction.atomic():
        campaign = _campaign_transition(campaign=campaign, action="schedule")
        if campaign.scheduled_at is None:
            campaign.scheduled_at = timezone.now()
            campaign.save(update_fields=["scheduled_at", "updated_at"])
    return campaign


def campaign_unschedule(*, campaign: Campaign) -> Campaign:
    """Return a scheduled campaign to draft so it can be edited."""
    return _campaign_transition(campaign=campaign, action="unschedule")


def campaign_start(*, campaign: Campaign) -> Campaign:
    """Mark a due scheduled campaign as sending."""
    return _campaign_transition(campaign=campaign, action="start")


def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Pause a campaign: nothing new is claimed until it is resumed."""
    return _campaign_transition(campaign=campaign, action="pause")


def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Resume a paused campaign where it stopped, or back to scheduled if it never started."""
    return _campaign_transition(campaign=campaign, action="resume")


def campaign_complete(*, campaign: Campaign) -> Campaign:
    """Mark a sending campaign as completed."""
    return _campaign_transition(campaign=campaign, action="complete")


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Cancel a campaign for good."""
    return _campaign_transition(campaign=campaign, action="cancel")
