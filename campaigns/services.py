"""Writes and rules of the audience, templates and the campaign status machine."""

import json
from dataclasses import dataclass, field
from email.utils import parseaddr

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Q
from django.template import Context, Engine, TemplateSyntaxError
from django.template import Template as DjangoTemplate
from django.utils import timezone
from inscriptis import get_text

from campaigns.exceptions import CampaignNotReady, InvalidTransition, TemplateRenderError
from campaigns.models import (
    ApiKey,
    Campaign,
    CampaignStep,
    Contact,
    ContactList,
    ListMembership,
    Suppression,
    Template,
    email_normalize,
)

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
    # Failed rows put back in the queue make a completed campaign send again.
    "reopen": (frozenset({Status.COMPLETED}), Status.SENDING),
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


# --- Contacts and lists ---------------------------------------------------------------------------

#: Most rows one bulk upsert takes; larger imports go in several requests (or a CSV, chunked).
CONTACT_BULK_MAX = 10_000
# Fields a row may set besides its email; the email is the upsert key.
CONTACT_UPSERT_FIELDS = ("first_name", "last_name", "external_id", "attributes", "timezone", "status")


@dataclass
class BulkUpsertResult:
    created: int = 0
    updated: int = 0
    #: One entry per refused row: {"row": n, "email": ..., "errors": {field: [messages]}}.
    errors: list[dict] = field(default_factory=list)


def contact_bulk_upsert(*, rows: list[tuple[int, dict]], list_ids: tuple[int, ...] = ()) -> BulkUpsertResult:
    """Create or update contacts by email in a few set-based statements; refuse bad rows one by one.

    rows are (row number, validated fields) with a normalized email. A field a row leaves out keeps
    its stored value; attributes, when given, replace the stored ones. A row is refused when its
    email or external_id repeats an earlier row, or its external_id belongs to another contact.
    list_ids: lists every accepted contact joins.
    """
    result = BulkUpsertResult()
    accepted: dict[str, tuple[int, dict]] = {}
    external_ids: dict[str, str] = {}
    for number, row in rows:
        email, external_id = row["email"], row.get("external_id", "")
        problem = None
        if email in accepted:
            problem = {"email": [f"Repeats row {accepted[email][0]}."]}
        elif external_id and external_id in external_ids:
            problem = {"external_id": [f"Repeats the external_id of {external_ids[external_id]}."]}
        if problem:
            result.errors.append({"row": number, "email": email, "errors": problem})
            continue
        accepted[email] = (number, row)
        if external_id:
            external_ids[external_id] = email
    write = _contact_upsert_copy if connection.vendor == "postgresql" else _contact_upsert_orm
    with transaction.atomic():
        write(accepted=accepted, list_ids=list_ids, result=result)
    result.errors.sort(key=lambda error: error["row"])
    return result


def _upsert_shape(row: dict) -> tuple[str, ...]:
    """Return the fields a row sets; a status change also sets unsubscribed_at."""
    shape = tuple(name for name in CONTACT_UPSERT_FIELDS if name in row)
    return (*shape, "unsubscribed_at") if "status" in row else shape


def _refuse_taken_external_ids(*, accepted, taken, result: BulkUpsertResult) -> None:
    """Drop rows whose external_id another contact owns; taken is (row email, owner email) pairs."""
    for email, owner in taken:
        number, _row = accepted.pop(email)
        message = f"Belongs to another contact ({owner})."
        result.errors.append({"row": number, "email": email, "errors": {"external_id": [message]}})


def _contact_upsert_orm(*, accepted, list_ids, result: BulkUpsertResult) -> None:
    """Upsert with the ORM's bulk_create, for databases without COPY (SQLite)."""
    external_ids = {
        row["external_id"]: email for email, (_n, row) in accepted.items() if row.get("external_id")
    }
    taken = Contact.objects.filter(external_id__in=list(external_ids)).exclude(email__in=list(accepted))
    pairs = [
        (external_ids[external_id], owner) for external_id, owner in taken.values_list("external_id", "email")
    ]
    _refuse_taken_external_ids(accepted=accepted, taken=pairs, result=result)
    result.updated = Contact.objects.filter(email__in=list(accepted)).count()
    result.created = len(accepted) - result.updated
    now = timezone.now()
    # One statement per shape of row (usually one): each updates only the fields its rows carry.
    by_shape: dict[tuple[str, ...], list[Contact]] = {}
    for email, (_number, row) in accepted.items():
        fields = {name: row[name] for name in CONTACT_UPSERT_FIELDS if name in row}
        if "status" in fields:
            fields["unsubscribed_at"] = now if fields["status"] == Contact.Status.UNSUBSCRIBED else None
        contact = Contact(email=email, created_at=now, updated_at=now, **fields)
        by_shape.setdefault(_upsert_shape(row), []).append(contact)
    for shape, contacts in by_shape.items():
        Contact.objects.bulk_create(
            contacts,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["email"],
            update_fields=[*shape, "updated_at"],
        )
    if list_ids:
        list_add_contacts(list_ids=list_ids, emails=list(accepted))


# SQL of the PostgreSQL upsert; {contacts} and {members} are the models' tables, {updates} the
# SET list of one row shape. Values always travel as parameters.
_UPSERT_TEMP_TABLE = (
    "CREATE TEMP TABLE contact_upsert (row_no int, email text, shape int, first_name text, last_name text, "
    "external_id text, attributes jsonb, timezone text, status text) ON COMMIT DROP"
)
_UPSERT_TAKEN_EXTERNAL_IDS = (
    "SELECT t.email, c.email FROM contact_upsert t JOIN {contacts} c "
    "ON c.external_id = t.external_id AND c.email <> t.email WHERE t.external_id <> ''"
)
_UPSERT_WRITE = (
    "INSERT INTO {contacts} (email, first_name, last_name, external_id, attributes, timezone, status, "
    "unsubscribed_at, created_at, updated_at) "
    "SELECT email, COALESCE(first_name, ''), COALESCE(last_name, ''), COALESCE(external_id, ''), "
    "COALESCE(attributes, '{{}}'::jsonb), COALESCE(timezone, ''), COALESCE(status, %(subscribed)s), "
    "CASE WHEN status = %(unsubscribed)s THEN %(now)s END, %(now)s, %(now)s "
    "FROM contact_upsert WHERE shape = %(shape)s ON CONFLICT (email) DO UPDATE SET {updates} "
    # xmax is 0 on a row version this statement inserted, and set on one it updated: the counts
    # come from the write itself, with no separate lookup of existing emails.
    "RETURNING (xmax = 0) AS inserted"
)
_UPSERT_COUNTED = "WITH written AS ({write}) SELECT count(*) FILTER (WHERE inserted), count(*) FROM written"
_UPSERT_MEMBERSHIPS = (
    "INSERT INTO {members} (contact_list_id, contact_id, created_at) "
    "SELECT l.id, c.id, %s FROM contact_upsert t JOIN {contacts} c USING (email) "
    "CROSS JOIN unnest(%s::bigint[]) AS l(id) ON CONFLICT (contact_list_id, contact_id) DO NOTHING"
)


def _contact_upsert_copy(*, accepted, list_ids, result: BulkUpsertResult) -> None:
    """Upsert on PostgreSQL: COPY the rows into a temporary table, then a few set-based statements.

    bulk_create spends most of its time building and adapting 10,000-row statements; COPY streams
    the rows, and the checks become joins. Must run inside a transaction (the table drops on commit).
    """
    tables = {"contacts": Contact._meta.db_table, "members": ListMembership._meta.db_table}
    now = timezone.now()
    shapes: dict[tuple[str, ...], int] = {}
    with connection.cursor() as cursor:
        # The table drops on commit; an enclosing transaction (a test, a caller's atomic block) may
        # not have committed since the last upsert, so clear any leftover first.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.contact_upsert")
        cursor.execute(_UPSERT_TEMP_TABLE)
        with cursor.cursor.copy("COPY contact_upsert FROM STDIN") as copy:
            for email, (number, row) in accepted.items():
                shape = shapes.setdefault(_upsert_shape(row), len(shapes))
                attributes = json.dumps(row["attributes"]) if "attributes" in row else None
                names = (row.get("first_name"), row.get("last_name"), row.get("external_id"))
                copy.write_row(
                    (number, email, shape, *names, attributes, row.get("timezone"), row.get("status"))
                )
        cursor.execute(_UPSERT_TAKEN_EXTERNAL_IDS.format(**tables))
        taken = cursor.fetchall()
        if taken:
            _refuse_taken_external_ids(accepted=accepted, taken=taken, result=result)
            cursor.execute(
                "DELETE FROM contact_upsert WHERE email = ANY(%s)", [[email for email, _ in taken]]
            )
        for shape, number in shapes.items():
            updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in (*shape, "updated_at"))
            parameters = {
                "now": now,
                "shape": number,
                "subscribed": Contact.Status.SUBSCRIBED,
                "unsubscribed": Contact.Status.UNSUBSCRIBED,
            }
            cursor.execute(
                _UPSERT_COUNTED.format(write=_UPSERT_WRITE.format(updates=updates, **tables)), parameters
            )
            inserted, written = cursor.fetchone()
            result.created += inserted
            result.updated += written - inserted
        if list_ids:
            cursor.execute(_UPSERT_MEMBERSHIPS.format(**tables), [now, list(list_ids)])


def list_add_contacts(*, list_ids, emails=(), contact_ids=()) -> int:
    """Add contacts (by email or id) to lists; return how many memberships are new."""
    contacts = list(
        Contact.objects.filter(Q(email__in=list(emails)) | Q(pk__in=list(contact_ids))).values_list(
            "pk", flat=True
        )
    )
    existing = set(
        ListMembership.objects.filter(contact_list_id__in=list_ids, contact_id__in=contacts).values_list(
            "contact_list_id", "contact_id"
        )
    )
    memberships = [
        ListMembership(contact_list_id=list_id, contact_id=contact_id)
        for contact_id in contacts
        for list_id in list_ids
        if (list_id, contact_id) not in existing
    ]
    # ignore_conflicts covers a concurrent add of the same membership.
    ListMembership.objects.bulk_create(memberships, batch_size=2000, ignore_conflicts=True)
    return len(memberships)


def list_remove_contacts(*, contact_list: ContactList, emails=(), contact_ids=()) -> int:
    """Remove contacts (by email or id) from a list; return how many memberships went."""
    deleted, _ = ListMembership.objects.filter(
        Q(contact__email__in=list(emails)) | Q(contact_id__in=list(contact_ids)), contact_list=contact_list
    ).delete()
    return deleted


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


# --- Campaigns ----------------------------------------------------------------------------------


@transaction.atomic
def campaign_create(*, steps=(), lists=(), **fields) -> Campaign:
    """Create a draft campaign with its steps ({order, template, delay}) and audience lists."""
    campaign = Campaign(**fields)
    campaign.full_clean(exclude=["lists"])
    campaign.save()
    campaign.lists.set(lists)
    CampaignStep.objects.bulk_create([CampaignStep(campaign=campaign, **step) for step in steps])
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, steps=None, lists=None, **fields) -> Campaign:
    """Change a draft campaign; given steps or lists replace the old ones.

    Only drafts change: a scheduled campaign is unscheduled first, so what is sent is what was
    reviewed when it was scheduled.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise InvalidTransition(
            f"Campaign “{campaign.name}” is {campaign.get_status_display().lower()}: only a draft can be "
            "edited (unschedule it first)."
        )
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.full_clean(exclude=["lists"])
    campaign.save()
    if lists is not None:
        campaign.lists.set(lists)
    if steps is not None:
        campaign.steps.all().delete()
        CampaignStep.objects.bulk_create([CampaignStep(campaign=campaign, **step) for step in steps])
    return campaign


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


def campaign_reopen(*, campaign: Campaign) -> Campaign:
    """Send a completed campaign again, for rows put back in its queue."""
    return _campaign_transition(campaign=campaign, action="reopen")


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Cancel a campaign for good."""
    return _campaign_transition(campaign=campaign, action="cancel")
