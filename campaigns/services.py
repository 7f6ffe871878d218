"""Writes and rules of the audience, templates and the campaign status machine."""

import json
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.template import Context, Engine, TemplateSyntaxError
from django.template import Template as DjangoTemplate
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from inscriptis import get_text
from inscriptis.model.config import ParserConfig

from campaigns.db import server_bound_cursor
from campaigns.exceptions import CampaignNotReady, InvalidTransition, TemplateRenderError
from campaigns.models import (
    ApiKey,
    Campaign,
    CampaignAudit,
    CampaignStep,
    Contact,
    ContactList,
    ListMembership,
    Suppression,
    Template,
    email_normalize,
    email_validate,
)

# A private engine: templates written in the admin see only the context we hand them, never the
# project's template dirs or loaders, and a missing variable renders as an empty string.
_EMAIL_ENGINE = Engine(string_if_invalid="", autoescape=True)
# A text part made from HTML keeps each link's address, as "[text](address)": a reader of the text
# part must be able to follow it.
_TEXT_CONFIG = ParserConfig(display_links=True)

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
        email_validate(address)
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


def template_render(
    *, compiled: CompiledTemplate, contact: Contact, extra: dict | None = None
) -> RenderedEmail:
    """Render subject, HTML and text for one contact; derive the text part from HTML if absent.

    `extra` adds variables of the email itself, such as `unsubscribe_url`.
    """
    context = {**template_context(contact=contact), **(extra or {})}
    try:
        # Subject and text are not HTML: escaping would show "&amp;" to the reader.
        subject = compiled.subject.render(Context(context, autoescape=False))
        html = compiled.html.render(Context(context)) if compiled.html else ""
        if compiled.text:
            text = compiled.text.render(Context(context, autoescape=False))
        else:
            text = get_text(html, _TEXT_CONFIG).strip()
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
    #: Existing contacts the rows matched field for field: nothing was written for them.
    unchanged: int = 0
    #: One entry per refused row: {"row": n, "email": ..., "errors": {field: [messages]}}.
    errors: list[dict] = field(default_factory=list)


def contact_bulk_upsert(*, rows: list[tuple[int, dict]], list_ids: tuple[int, ...] = ()) -> BulkUpsertResult:
    """Create or update contacts by email in a few set-based statements; refuse bad rows one by one.

    rows are (row number, validated fields) with a normalized email. A field a row leaves out keeps
    its stored value; attributes, when given, replace the stored ones. A row that changes nothing
    writes nothing: re-importing the same export costs reads, not row versions. A row is refused
    when its email or external_id repeats an earlier row, or its external_id belongs to another
    contact. list_ids: lists every accepted contact joins.
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
    with transaction.atomic():
        matching = _contacts_matching(emails=list(accepted), external_ids=list(external_ids))
        _refuse_taken_external_ids(
            accepted=accepted, external_ids=external_ids, matching=matching, result=result
        )
        known = {email for email, _external_id in matching}
        new = [(email, row) for email, (_number, row) in accepted.items() if email not in known]
        existing = [(email, row) for email, (_number, row) in accepted.items() if email in known]
        if connection.vendor == "postgresql":
            _contact_upsert_copy(new=new, existing=existing, result=result)
        else:
            _contact_upsert_orm(new=new, existing=existing, result=result)
        result.unchanged = len(accepted) - result.created - result.updated
        if list_ids:
            list_add_contacts(list_ids=list_ids, emails=list(accepted))
    result.errors.sort(key=lambda error: error["row"])
    return result


def _contacts_matching(*, emails: list[str], external_ids: list[str]) -> list[tuple[str, str]]:
    """Return (email, external_id) of the contacts that have one of the emails or external ids."""
    if connection.vendor != "postgresql":
        matching = Contact.objects.filter(Q(email__in=emails) | Q(external_id__in=external_ids))
        return list(matching.values_list("email", "external_id"))
    # Two array parameters: 10,000 placeholders cost more to build than the query takes to run.
    statement = (
        f"SELECT email, external_id FROM {Contact._meta.db_table} "  # noqa: S608
        "WHERE email = ANY(%s) OR external_id = ANY(%s)"
    )
    with server_bound_cursor() as cursor:
        cursor.execute(statement, [emails, external_ids])
        return cursor.fetchall()


def _refuse_taken_external_ids(
    *, accepted, external_ids: dict[str, str], matching: list[tuple[str, str]], result: BulkUpsertResult
) -> None:
    """Drop rows whose external_id another contact owns; external_ids maps each to its row's email."""
    for owner, external_id in matching:
        email = external_ids.get(external_id)
        if email is not None and email != owner and email in accepted:
            number, _row = accepted.pop(email)
            message = f"Belongs to another contact ({owner})."
            result.errors.append({"row": number, "email": email, "errors": {"external_id": [message]}})


def _contact_fields(row: dict, before: dict | None, now) -> dict:
    """Return what a row writes: its own fields, and when it sets status, unsubscribed_at."""
    fields = {name: row[name] for name in CONTACT_UPSERT_FIELDS if name in row}
    if "status" in fields:
        if before is not None and before["status"] == fields["status"]:
            fields["unsubscribed_at"] = before["unsubscribed_at"]  # Keep when they left.
        else:
            fields["unsubscribed_at"] = now if fields["status"] == Contact.Status.UNSUBSCRIBED else None
    return fields


def _contact_upsert_orm(*, new, existing, result: BulkUpsertResult) -> None:
    """Upsert with the ORM's bulk_create, for databases without COPY (SQLite)."""
    now = timezone.now()
    stored = {
        contact["email"]: contact
        for contact in Contact.objects.filter(email__in=[email for email, _row in existing]).values(
            "email", "unsubscribed_at", *CONTACT_UPSERT_FIELDS
        )
    }
    # One statement per shape of row (usually one): each updates only the fields its rows carry.
    by_shape: dict[tuple[str, ...], list[Contact]] = {}
    for email, row in new + existing:
        before = stored.get(email)
        fields = _contact_fields(row, before, now)
        if before is None:
            result.created += 1
        elif any(before[name] != value for name, value in fields.items()):
            result.updated += 1
        else:
            continue  # Changes nothing.
        by_shape.setdefault(tuple(fields), []).append(
            Contact(email=email, created_at=now, updated_at=now, **fields)
        )
    for shape, contacts in by_shape.items():
        Contact.objects.bulk_create(
            contacts,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["email"],
            update_fields=[*shape, "updated_at"],
        )


# Columns of a new contact as COPY writes them, and the SQL of the PostgreSQL upsert of the rest.
_CONTACT_COPY_COLUMNS = (
    "email",
    *CONTACT_UPSERT_FIELDS,
    "unsubscribed_at",
    "created_at",
    "updated_at",
)
_UPSERT_TEMP_TABLE = (
    "CREATE TEMP TABLE contact_upsert (email text, shape int, first_name text, last_name text, "
    "external_id text, attributes jsonb, timezone text, status text, unsubscribed_at timestamptz) "
    "ON COMMIT DROP"
)
# {contacts} is the table, {updates} and {changed} the SET list and its condition for one row shape.
# Values always travel as parameters.
_UPSERT_WRITE = (
    "INSERT INTO {contacts} (email, first_name, last_name, external_id, attributes, timezone, status, "
    "unsubscribed_at, created_at, updated_at) "
    "SELECT email, COALESCE(first_name, ''), COALESCE(last_name, ''), COALESCE(external_id, ''), "
    "COALESCE(attributes, '{{}}'::jsonb), COALESCE(timezone, ''), COALESCE(status, %(subscribed)s), "
    "unsubscribed_at, %(now)s, %(now)s "
    "FROM contact_upsert WHERE shape = %(shape)s ON CONFLICT (email) DO UPDATE SET {updates} "
    # Rows that would change nothing are left alone: no new row version, no index entries.
    "WHERE {changed} "
    # xmax is 0 on a row version this statement inserted, and set on one it updated: the counts
    # come from the write itself, since another import may have run since the rows were sorted.
    "RETURNING (xmax = 0) AS inserted"
)
# A status that stays the same keeps the time the contact left, not the time of this import.
_UPSERT_KEEP_UNSUBSCRIBED_AT = (
    "unsubscribed_at = CASE WHEN {contacts}.status = EXCLUDED.status "
    "THEN {contacts}.unsubscribed_at ELSE EXCLUDED.unsubscribed_at END"
)
_UPSERT_COUNTED = "WITH written AS ({write}) SELECT count(*) FILTER (WHERE inserted), count(*) FROM written"


def _contact_upsert_copy(*, new, existing, result: BulkUpsertResult) -> None:
    """Write on PostgreSQL: COPY new contacts straight into the table, upsert the others.

    COPY is the fastest way in. Another import may add one of the new addresses meanwhile; then
    the COPY fails as a whole (in its savepoint) and those rows join the upsert, which settles
    every conflict. The upsert COPYs rows into a temporary table and writes them with one
    INSERT … ON CONFLICT per row shape, skipping rows equal to what is stored. Runs inside a
    transaction (the table drops on commit).
    """
    now = timezone.now()
    if new:
        try:
            with transaction.atomic(), connection.wrap_database_errors, connection.cursor() as cursor:
                columns = ", ".join(_CONTACT_COPY_COLUMNS)
                table = Contact._meta.db_table
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for email, row in new:
                        fields = _contact_fields(row, None, now)
                        copy.write_row(
                            (
                                email,
                                fields.get("first_name", ""),
                                fields.get("last_name", ""),
                                fields.get("external_id", ""),
                                json.dumps(fields.get("attributes", {})),
                                fields.get("timezone", ""),
                                fields.get("status", Contact.Status.SUBSCRIBED),
                                fields.get("unsubscribed_at"),
                                now,
                                now,
                            )
                        )
            result.created += len(new)
            new = []
        except IntegrityError:
            pass  # Taken by a concurrent import: the upsert below decides row by row.
    rows = new + existing
    if not rows:
        return
    contacts = Contact._meta.db_table
    shapes: dict[tuple[str, ...], int] = {}
    with connection.cursor() as cursor:
        # The table drops on commit; an enclosing transaction (a test, a caller's atomic block) may
        # not have committed since the last upsert, so clear any leftover first.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.contact_upsert")
        cursor.execute(_UPSERT_TEMP_TABLE)
        with cursor.cursor.copy("COPY contact_upsert FROM STDIN") as copy:
            for email, row in rows:
                # Stored values are not known here; the upsert keeps unsubscribed_at in SQL.
                fields = _contact_fields(row, None, now)
                shape = shapes.setdefault(tuple(fields), len(shapes))
                attributes = json.dumps(fields["attributes"]) if "attributes" in fields else None
                names = (fields.get("first_name"), fields.get("last_name"), fields.get("external_id"))
                copy.write_row(
                    (
                        email,
                        shape,
                        *names,
                        attributes,
                        fields.get("timezone"),
                        fields.get("status"),
                        fields.get("unsubscribed_at"),
                    )
                )
        for shape, number in shapes.items():
            updates = ", ".join(
                _UPSERT_KEEP_UNSUBSCRIBED_AT.format(contacts=contacts)
                if name == "unsubscribed_at"
                else f"{name} = EXCLUDED.{name}"
                for name in (*shape, "updated_at")
            )
            # unsubscribed_at follows status; comparing it would count every unsubscribe as new.
            compared = [name for name in shape if name != "unsubscribed_at"]
            stored = ", ".join(f"{contacts}.{name}" for name in compared)
            given = ", ".join(f"EXCLUDED.{name}" for name in compared)
            # A row of just an email changes nothing on a contact that exists.
            changed_sql = f"ROW({stored}) IS DISTINCT FROM ROW({given})" if compared else "false"
            write = _UPSERT_WRITE.format(contacts=contacts, updates=updates, changed=changed_sql)
            parameters = {"now": now, "shape": number, "subscribed": Contact.Status.SUBSCRIBED}
            cursor.execute(_UPSERT_COUNTED.format(write=write), parameters)
            inserted, written = cursor.fetchone()
            result.created += inserted
            result.updated += written - inserted


# Memberships of the contacts with the given emails or ids in the given lists, in one statement.
_LIST_ADD = (
    "INSERT INTO {members} (contact_list_id, contact_id, created_at) "
    "SELECT l.id, c.id, %s FROM {contacts} c CROSS JOIN unnest(%s::bigint[]) AS l(id) "
    "WHERE c.email = ANY(%s) OR c.id = ANY(%s) ON CONFLICT (contact_list_id, contact_id) DO NOTHING"
)


def list_add_contacts(*, list_ids, emails=(), contact_ids=()) -> int:
    """Add contacts (by email or id) to lists; return how many memberships are new."""
    if connection.vendor == "postgresql":
        tables = {"members": ListMembership._meta.db_table, "contacts": Contact._meta.db_table}
        with connection.cursor() as cursor:
            cursor.execute(
                _LIST_ADD.format(**tables), [timezone.now(), list(list_ids), list(emails), list(contact_ids)]
            )
            return cursor.rowcount
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


def api_key_create(
    *, name: str, expiry_date=None, rate_limit: str = "", is_load_test: bool = False
) -> tuple[ApiKey, str]:
    """Create an API key and return it with its secret, which is never stored and never shown again."""
    api_key = ApiKey(name=name, expiry_date=expiry_date, rate_limit=rate_limit, is_load_test=is_load_test)
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


def contact_resubscribe(*, contact: Contact) -> bool:
    """Subscribe a contact who had unsubscribed again, at their own request; False if suppressed.

    A suppressed address (a bounce, a complaint) stays unmailable: SES would refuse it anyway.
    """
    if Suppression.objects.filter(email=contact.email).exists():
        return False
    if contact.status != Contact.Status.SUBSCRIBED:
        contact.status = Contact.Status.SUBSCRIBED
        contact.unsubscribed_at = None
        contact.save(update_fields=["status", "unsubscribed_at", "updated_at"])
    return True


# --- Campaigns ----------------------------------------------------------------------------------


@transaction.atomic
def _steps_create(*, campaign: Campaign, steps) -> None:
    """Create a campaign's steps ({order, template, delay, …}); condition_step_order names, by its
    order, the earlier step a condition looks at."""
    steps = [dict(step) for step in steps]
    looked_at = {step["order"]: step.pop("condition_step_order", None) for step in steps}
    CampaignStep.objects.bulk_create([CampaignStep(campaign=campaign, **step) for step in steps])
    by_order = {step.order: step for step in campaign.steps.all()}
    for order, earlier in looked_at.items():
        if earlier is not None:
            CampaignStep.objects.filter(pk=by_order[order].pk).update(condition_step=by_order[earlier])


def campaign_create(*, steps=(), lists=(), **fields) -> Campaign:
    """Create a draft campaign with its steps and audience lists."""
    campaign = Campaign(**fields)
    campaign.full_clean(exclude=["lists"])
    campaign.save()
    campaign.lists.set(lists)
    _steps_create(campaign=campaign, steps=steps)
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
        _steps_create(campaign=campaign, steps=steps)
    return campaign


# --- Campaign status machine ----------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who asks for a move: a person in the admin, an integrator's API key, or the system."""

    name: str = "system"
    user: object | None = None


SYSTEM = Actor()


def _campaign_transition(
    *, campaign: Campaign, action: str, note: str = "", actor: Actor = SYSTEM
) -> Campaign:
    """Move a campaign along CAMPAIGN_TRANSITIONS under a row lock, or raise InvalidTransition.

    note says why, when the system rather than a person moved it; any move replaces the last one.
    Every move is written to the campaign's audit trail, with its actor.
    """
    allowed_from, target = CAMPAIGN_TRANSITIONS[action]
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in allowed_from:
            allowed = ", ".join(sorted(Status(s).label.lower() for s in allowed_from))
            raise InvalidTransition(
                f"Cannot {action} campaign “{locked.name}”: it is {locked.get_status_display().lower()}, "
                f"and {action} applies only to a campaign that is {allowed}."
            )
        before = locked.status
        # Resume goes back to where the campaign was: sending if it had started, else scheduled.
        locked.status = target or (Status.SENDING if locked.started_at else Status.SCHEDULED)
        now = timezone.now()
        if locked.status == Status.SENDING and locked.started_at is None:
            locked.started_at = now
        if locked.status in (Status.COMPLETED, Status.CANCELLED):
            locked.completed_at = now
        if action == "resume" and locked.status == Status.SCHEDULED and (locked.scheduled_at or now) < now:
            # Resuming a campaign whose time has passed is the go-ahead to send it now; without
            # this, the lateness guard would pause it again.
            locked.scheduled_at = now
        locked.status_note = note
        locked.save(
            update_fields=[
                "status",
                "started_at",
                "completed_at",
                "scheduled_at",
                "status_note",
                "updated_at",
            ]
        )
        campaign_recurrence_sync(campaign=locked)
        CampaignAudit.objects.create(
            campaign=locked,
            action=action,
            from_status=before,
            to_status=locked.status,
            user=actor.user,
            actor=actor.name[:200],
            note=note,
        )
    campaign.refresh_from_db()
    return campaign


# --- Recurring campaigns --------------------------------------------------------------------------

RECUR_TASK = "delivery.tasks.campaign_recur"


def _recurrence_task_name(campaign: Campaign) -> str:
    return f"campaign {campaign.pk} recurrence"


def campaign_recurrence_sync(*, campaign: Campaign) -> None:
    """Keep a recurring campaign's beat entry in step with it: firing only while it is scheduled.

    Pausing the campaign pauses its schedule; cancelling removes it.
    """
    name = _recurrence_task_name(campaign)
    if not campaign.recurrence or campaign.status in (Campaign.Status.CANCELLED, Campaign.Status.DRAFT):
        PeriodicTask.objects.filter(name=name).delete()
        return
    minute, hour, day_of_month, month_of_year, day_of_week = campaign.recurrence.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=campaign.timezone or "UTC",
    )
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": RECUR_TASK,
            "crontab": schedule,
            "kwargs": json.dumps({"campaign_id": campaign.pk}),
            "enabled": campaign.status == Campaign.Status.SCHEDULED,
        },
    )


def campaign_run_create(*, campaign: Campaign, now: datetime | None = None) -> Campaign | None:
    """Start one run of a recurring campaign: a copy, scheduled now, for the audience of the moment.

    Return it; None if the campaign is not scheduled (paused, cancelled) or this minute's run
    exists already (beat's message delivered twice).
    """
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    with transaction.atomic():
        parent = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if parent.status != Campaign.Status.SCHEDULED or not parent.recurrence:
            return None
        if parent.runs.filter(scheduled_at=now).exists():
            return None
        run = Campaign.objects.get(pk=parent.pk)
        run.pk = None
        run._state.adding = True
        run.name = f"{parent.name[:180]} · {now:%Y-%m-%d %H:%M}"
        run.recurrence, run.parent, run.scheduled_at = "", parent, now
        run.created_at = now
        run.save()
        run.lists.set(parent.lists.all())
        CampaignStep.objects.bulk_create(
            [
                CampaignStep(
                    campaign=run,
                    **{
                        name: getattr(step, name)
                        for name in ("order", "template_id", "delay", "send_at", "condition", "condition_url")
                    },
                )
                for step in parent.steps.order_by("order")
            ]
        )
        # An earlier step the condition looks at is the run's own step of the same order.
        for step in parent.steps.exclude(condition_step=None).select_related("condition_step"):
            run.steps.filter(order=step.order).update(
                condition_step=run.steps.get(order=step.condition_step.order)
            )
    return run


def _drip_problems(*, campaign: Campaign, steps: list[CampaignStep]) -> list[str]:
    """Name what in a campaign's steps, windows or schedule cannot work as set."""
    problems = []
    Condition = CampaignStep.Condition
    for index, step in enumerate(steps):
        earlier = {other.pk for other in steps[:index]}
        if index == 0 and step.condition != Condition.ALWAYS:
            problems.append("its first step has a condition, but there is no earlier step to look at")
        if step.condition == Condition.CLICKED_LINK and not step.condition_url:
            problems.append(f"step {step.order} waits for a click on a link but names none")
        if step.condition_step_id and step.condition_step_id not in earlier:
            problems.append(f"step {step.order}'s condition looks at a step that does not come before it")
    if (campaign.send_window_start is None) != (campaign.send_window_end is None):
        problems.append("its send window needs both a start and an end")
    if campaign.audience_mode == Campaign.Audience.EVERGREEN and campaign.recurrence:
        problems.append("an evergreen campaign cannot also recur: each run would start everyone again")
    return problems


def campaign_check_ready(*, campaign: Campaign) -> None:
    """Raise CampaignNotReady, saying what is missing, unless the campaign can be sent."""
    problems = []
    steps = list(campaign.steps.select_related("template"))
    if not steps:
        problems.append("it has no steps")
    problems += _drip_problems(campaign=campaign, steps=sorted(steps, key=lambda step: step.order))
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


def campaign_schedule(*, campaign: Campaign, actor: Actor = SYSTEM) -> Campaign:
    """Schedule a draft campaign; it starts at scheduled_at, or at the next tick if that is empty."""
    campaign_check_ready(campaign=campaign)
    with transaction.atomic():
        campaign = _campaign_transition(campaign=campaign, action="schedule", actor=actor)
        if campaign.scheduled_at is None:
            campaign.scheduled_at = timezone.now()
            campaign.save(update_fields=["scheduled_at", "updated_at"])
    return campaign


def campaign_unschedule(*, campaign: Campaign, actor: Actor = SYSTEM) -> Campaign:
    """Return a scheduled campaign to draft so it can be edited."""
    return _campaign_transition(campaign=campaign, action="unschedule", actor=actor)


def campaign_start(*, campaign: Campaign) -> Campaign:
    """Mark a due scheduled campaign as sending."""
    return _campaign_transition(campaign=campaign, action="start")


def campaign_pause(*, campaign: Campaign, note: str = "", actor: Actor = SYSTEM) -> Campaign:
    """Pause a campaign: nothing new is claimed until it is resumed; note says why, if not a person."""
    return _campaign_transition(campaign=campaign, action="pause", note=note, actor=actor)


def campaign_resume(*, campaign: Campaign, actor: Actor = SYSTEM) -> Campaign:
    """Resume a paused campaign where it stopped, or back to scheduled if it never started."""
    return _campaign_transition(campaign=campaign, action="resume", actor=actor)


def campaign_complete(*, campaign: Campaign) -> Campaign:
    """Mark a sending campaign as completed."""
    return _campaign_transition(campaign=campaign, action="complete")


def campaign_reopen(*, campaign: Campaign) -> Campaign:
    """Send a completed campaign again, for rows put back in its queue."""
    return _campaign_transition(campaign=campaign, action="reopen")


def campaign_cancel(*, campaign: Campaign, actor: Actor = SYSTEM) -> Campaign:
    """Cancel a campaign for good."""
    return _campaign_transition(campaign=campaign, action="cancel", actor=actor)
