"""Reads of the audience and campaigns."""

import operator
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDate
from django.template.base import Lexer, TokenType
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.mailable import contacts_enrollable, contacts_mailable, mail_not_paused
from campaigns.models import (
    Campaign,
    CampaignStep,
    ConsentChange,
    Contact,
    ContactList,
    ListMembership,
    Suppression,
    Template,
    email_normalize,
)
from campaigns.segments import segment_audience_condition
from core.addresses import email_canonical, mailbox_canonical, mailbox_parse
from core.exceptions import CampanileError
from core.exports import json_cell_text
from core.html import html_link_shown, html_read, html_write
from core.html_text import html_unshown_drop
from core.text import grouped


def campaign_list_due(*, now: datetime) -> QuerySet[Campaign]:
    """Return scheduled campaigns whose time has come, oldest first; a recurring one sends by runs."""
    return Campaign.objects.filter(
        status=Campaign.Status.SCHEDULED, scheduled_at__lte=now, recurrence=""
    ).order_by("scheduled_at")


def campaign_audience_base(*, campaign: Campaign, id_range: tuple[int, int] | None = None) -> Q:
    """Return, as a condition over Contact, who a campaign is for whatever their status: on one of
    its lists (if it has any) and matching one of its segments (if it has any); nobody without
    either. The one definition the fan-out, the dry run and a drip's exits read.

    EXISTS rather than a join keeps a contact on several lists to one row without a DISTINCT.
    id_range (after, through) is written into the membership check, or the database would read
    every membership for each range of the fan-out.
    """
    list_ids = list(campaign.lists.values_list("pk", flat=True)) if campaign.pk else []
    definitions = list(campaign.segments.values_list("definition", flat=True)) if campaign.pk else []
    if not list_ids and not definitions:
        return Q(pk__in=[])
    condition = Q()
    if list_ids:
        members = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id__in=list_ids)
        if id_range is not None:
            members = members.filter(contact_id__gt=id_range[0], contact_id__lte=id_range[1])
        condition &= Q(Exists(members))
    if definitions:
        condition &= reduce(
            operator.or_, (segment_audience_condition(definition) for definition in definitions)
        )
    return condition


def campaign_audience(*, campaign: Campaign, id_range: tuple[int, int] | None = None) -> QuerySet[Contact]:
    """Return the contacts a campaign takes in: its audience (campaign_audience_base), subscribed,
    not suppressed (campaigns.mailable.contacts_enrollable: a break skips emails at their claim);
    id_range (after, through) limits it to contact ids in (after, through]."""
    contacts = Contact.objects.filter(campaign_audience_base(campaign=campaign, id_range=id_range))
    if id_range is not None:
        contacts = contacts.filter(pk__gt=id_range[0], pk__lte=id_range[1])
    return contacts_enrollable(contacts)


def campaign_audience_breakdown(*, campaign: Campaign) -> dict[str, int]:
    """Count a campaign's audience and why each excluded contact is left out (a dry run):
    "on_lists" counts everyone the audience holds (on its lists and in its segments)."""
    audience = Contact.objects.filter(campaign_audience_base(campaign=campaign))
    suppressed = Exists(Suppression.objects.filter(email=OuterRef("email")))
    counts = audience.aggregate(
        on_lists=Count("pk"),
        unsubscribed=Count("pk", filter=Q(status=Contact.Status.UNSUBSCRIBED)),
        pending=Count("pk", filter=Q(status=Contact.Status.PENDING)),
        transactional=Count("pk", filter=Q(status=Contact.Status.TRANSACTIONAL)),
        suppressed=Count("pk", filter=Q(status=Contact.Status.SUBSCRIBED) & Q(suppressed)),
        paused=Count("pk", filter=Q(status=Contact.Status.SUBSCRIBED) & ~Q(suppressed) & ~mail_not_paused()),
    )
    left_out = ("unsubscribed", "pending", "transactional", "suppressed", "paused")
    counts["sendable"] = counts["on_lists"] - sum(counts[name] for name in left_out)
    memberships = ListMembership.objects.filter(contact_list__campaigns=campaign, contact__in=audience)
    counts["duplicates_collapsed"] = memberships.count() - memberships.values("contact").distinct().count()
    return counts


def preview_contact(*, campaign: Campaign, wanted: str = "", may_see_memberships: bool) -> Contact | None:
    """Return the contact a preview renders for: the one asked for (by email or id), else the
    campaign's first sendable contact, else any contact on its lists; for those who may not see who
    is on which list, the sample contact (SAMPLE_CONTACT, unsaved) rather than one of its lists."""
    if wanted.strip():
        return _contact_wanted(wanted)
    if not may_see_memberships:
        return Contact(**SAMPLE_CONTACT, attributes=SAMPLE_ATTRIBUTES)
    audience = Contact.objects.filter(campaign_audience_base(campaign=campaign)).order_by("pk")
    return contacts_mailable(audience).first() or audience.first()


def _contact_wanted(wanted: str) -> Contact | None:
    """Return the contact a person asked for, by email or id, if there is one."""
    wanted = wanted.strip()
    if "\x00" in wanted:  # No column holds a NUL: no contact has one.
        return None
    # isdigit() alone takes "²", which int() refuses; past 18 digits no id exists (and int()
    # refuses past 4,300).
    number = wanted.isascii() and wanted.isdigit() and len(wanted) <= 18
    lookup = Q(email=email_normalize(wanted)) if "@" in wanted else Q(pk=int(wanted) if number else 0)
    return Contact.objects.filter(lookup).first()


def contact_list_choices(*, campaign: Campaign | None = None) -> QuerySet[ContactList]:
    """Return the lists a marketer may give a campaign: no load test's, bar those it already has."""
    chosen = ContactList.objects.filter(campaigns=campaign).values("pk") if campaign and campaign.pk else []
    subscribed = Q(memberships__contact__status=Contact.Status.SUBSCRIBED)
    return (
        ContactList.objects.filter(Q(is_load_test=False) | Q(pk__in=chosen))
        .annotate(subscribed=Count("memberships", filter=subscribed))
        .order_by("name")
    )


@dataclass(frozen=True)
class OffRuleAddress:
    """A stored address the address rule would refuse, or store in another form."""

    model: str
    pk: int
    field: str
    stored: str
    #: The form the rule gives it, or "" when the rule refuses it.
    canonical: str
    problem: str


def addresses_off_rule() -> Iterator[OffRuleAddress]:
    """Yield the stored addresses and senders the address rule would not store as they are.

    For rows saved before the rule (docs/operations.md): contacts and suppressions by email,
    campaigns by sender and reply-to. Reads every row once, in batches.
    """
    checked = (
        (Contact.objects.all(), "email", email_canonical),
        (Suppression.objects.all(), "email", email_canonical),
        (Campaign.objects.all(), "from_email", mailbox_canonical),
        (Campaign.objects.exclude(reply_to=""), "reply_to", email_canonical),
    )
    for queryset, field, canonical_of in checked:
        model = queryset.model._meta.label
        for pk, stored in queryset.order_by("pk").values_list("pk", field).iterator(chunk_size=5000):
            try:
                canonical = canonical_of(stored)
            except ValidationError as exc:
                yield OffRuleAddress(model, pk, field, stored, "", exc.messages[0])
                continue
            if canonical != stored:
                yield OffRuleAddress(model, pk, field, stored, canonical, f"stored as {canonical!r} now")


def contact_consent_history(*, contact: Contact) -> QuerySet[ConsentChange]:
    """Return the contact's consent changes, newest first."""
    return ConsentChange.objects.filter(contact=contact).order_by("-at", "-pk")


def audience_growth(*, now: datetime, days: int = 30) -> dict:
    """Return the audience now (subscribed contacts) and, day by day over `days`, who joined and who left.

    Joined: who became subscribed that day: contacts created subscribed (their first status, as
    their consent history's first change, or their status, says), and changes to subscribed from
    any other status (a signup confirmed, someone subscribed again); left: changes from subscribed
    to unsubscribed that day (ConsentChange). Load-test contacts are left out.
    """
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=days - 1)
    people = Contact.objects.filter(is_load_test=False)
    first_change = ConsentChange.objects.filter(contact=OuterRef("pk")).order_by("at", "pk")
    created = (
        people.filter(created_at__gte=since)
        .annotate(first_status=Coalesce(Subquery(first_change.values("from_status")[:1]), "status"))
        .filter(first_status=Contact.Status.SUBSCRIBED)
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values_list("day")
        .annotate(n=Count("pk"))
    )
    became = (
        ConsentChange.objects.filter(
            at__gte=since, to_status=Contact.Status.SUBSCRIBED, contact__is_load_test=False
        )
        .exclude(from_status=Contact.Status.SUBSCRIBED)
        .annotate(day=TruncDate("at"))
        .order_by()
        .values_list("day")
        .annotate(n=Count("pk"))
    )
    joined: dict = {}
    for day, n in [*created, *became]:
        joined[day] = joined.get(day, 0) + n
    left = dict(
        ConsentChange.objects.filter(
            at__gte=since,
            from_status=Contact.Status.SUBSCRIBED,
            to_status=Contact.Status.UNSUBSCRIBED,
            contact__is_load_test=False,
        )
        .annotate(day=TruncDate("at"))
        .order_by()
        .values_list("day")
        .annotate(n=Count("pk"))
    )
    dates = [(since + timedelta(days=offset)).date() for offset in range(days)]
    return {
        "subscribed": people.filter(status=Contact.Status.SUBSCRIBED).count(),
        "days": [(day, joined.get(day, 0), left.get(day, 0)) for day in dates],
        "joined": sum(joined.values()),
        "left": sum(left.values()),
    }


@dataclass(frozen=True)
class CheckItem:
    """One line of a campaign's checklist: what it checks, whether it holds, and what to do."""

    label: str
    ok: bool
    detail: str
    #: Scheduling refuses a campaign whose required items fail; the others are advice.
    required: bool = True


# Where a template's source prints the page that unsubscribes its reader, as the check reads it.
_UNSUBSCRIBE_SHOWN = "\x00campanile-unsubscribe-url\x00"
#: Filters that leave the address printed whole.
_UNSUBSCRIBE_KEPT_BY = frozenset({"safe", "escape", "force_escape"})


def steps_showing_pixel(steps: QuerySet[CampaignStep]) -> QuerySet[CampaignStep]:
    """Return those of the steps whose emails carry the open pixel: their campaign tracks opens,
    and their template has HTML to hold it (a text-only email can show no open)."""
    return steps.filter(campaign__track_opens=True).exclude(template__html_body__regex=Template.BLANK_HTML)


def campaigns_opens_tracked(*, campaign_ids: Iterable[int]) -> dict[int, bool]:
    """Tell, for each campaign, whether it can measure opens: a step of its sends the pixel."""
    ids = list(campaign_ids)
    showing = steps_showing_pixel(CampaignStep.objects.filter(campaign_id__in=ids))
    tracked = set(showing.values_list("campaign_id", flat=True))
    return {pk: pk in tracked for pk in ids}


def campaign_opens_tracked(*, campaign: Campaign) -> bool:
    """Tell whether a campaign can measure opens (campaigns_opens_tracked)."""
    return campaigns_opens_tracked(campaign_ids=[campaign.pk])[campaign.pk]


def campaign_checklist(*, campaign: Campaign) -> list[CheckItem]:
    """Return what a campaign needs before it can be scheduled, each item met or not, in words."""
    steps = list(campaign.steps.select_related("template").order_by("order"))
    try:
        mailbox_parse(campaign.from_email)
        sender = CheckItem(_("Sender"), True, campaign.from_email)
    except ValidationError as exc:
        sender = CheckItem(
            _("Sender"), False, " ".join(exc.messages) if campaign.from_email else _("No sender yet.")
        )
    if not campaign.pk or not (campaign.lists.exists() or campaign.segments.exists()):
        audience = CheckItem(_("Audience"), False, _("Choose one or more lists, or segments."))
    else:
        sendable = campaign_audience_breakdown(campaign=campaign)["sendable"]
        audience = CheckItem(
            _("Audience"),
            sendable > 0,
            ngettext("%(count)s contact will be mailed.", "%(count)s contacts will be mailed.", sendable)
            % {"count": grouped(sendable)}
            if sendable
            else _("The audience holds nobody who can be mailed."),
        )
    if not steps:
        content = CheckItem(_("Content"), False, _("Add a step with its template."))
    else:
        content = CheckItem(
            _("Content"),
            True,
            ngettext(
                "%(count)s step; its subject: %(subject)s",
                "%(count)s steps; first subject: %(subject)s",
                len(steps),
            )
            % {"count": len(steps), "subject": steps[0].template.subject},
        )
    without_link = [step.order for step in steps if not template_has_unsubscribe_link(template=step.template)]
    unsubscribe = CheckItem(
        _("Unsubscribe link"),
        bool(steps) and not without_link,
        _("Every email has one.")
        if steps and not without_link
        else ngettext(
            "Step %(steps)s shows no {{ unsubscribe_url }} link: every email carries one-click "
            "unsubscribe headers, but readers and inboxes expect a visible link too.",
            "Steps %(steps)s show no {{ unsubscribe_url }} link: every email carries one-click "
            "unsubscribe headers, but readers and inboxes expect a visible link too.",
            len(without_link),
        )
        % {"steps": ", ".join(map(str, without_link))},
        required=False,
    )
    return [sender, audience, content, unsubscribe]


def template_has_unsubscribe_link(*, template: Template) -> bool:
    """Tell whether a template shows its reader an unsubscribe link ({{ unsubscribe_url }}): one
    printed whole, outside a template comment and, in the HTML, outside what no reader sees, and
    there once rendered for the sample contact (no `{% if 0 %}`, `{% with %}` or `{% filter %}`
    kept it out or changed it)."""
    written = _unsubscribe_shown(template.html_body, html=True) or _unsubscribe_shown(
        template.text_body, html=False
    )
    return written and _unsubscribe_rendered(template) is True


def _unsubscribe_rendered(template: Template) -> bool | None:
    """Tell whether the sample contact's email shows its unsubscribe link, or None when it does not
    render (its preview and checks say why; no link is counted then): in the HTML, a link to the
    address itself that no element or style hides; in a text-only email, the address whole."""
    from campaigns.rendering import template_compile, template_render

    if _unsubscribe_read_by_a_tag(template.html_body if template.html_body.strip() else template.text_body):
        # A condition on the address itself (`{% if 'x' in unsubscribe_url %}`) could tell the
        # check's address from a real one: judged on the check's, the link would count unseen.
        return False
    try:
        rendered = template_render(
            compiled=template_compile(template=template),
            contact=Contact(**SAMPLE_CONTACT, attributes=SAMPLE_ATTRIBUTES),
            extra={"unsubscribe_url": _UNSUBSCRIBE_RENDERED},
        )
    except CampanileError:
        return None
    if template.html_body.strip():
        # Most readers see the HTML: a link in the text part alone is one they never see, and
        # HTML the sample leaves blank shows none. HTML a reader's client may read otherwise than
        # the check (a declarative shadow root, a <noscript> ended early) is judged as no link.
        return (
            bool(rendered.html.strip())
            and _read_whole(rendered.html)
            and html_link_shown(rendered.html, _UNSUBSCRIBE_RENDERED)
        )
    return bool(_UNSUBSCRIBE_IN_TEXT.search(rendered.text))


def _read_whole(html: str) -> bool:
    """Tell whether every reader's client reads this HTML as the checks do (core.html)."""
    try:
        html_write(html_read(html))
    except ValueError:
        return False
    return True


def _unsubscribe_read_by_a_tag(source: str) -> bool:
    """Tell whether a template's tag (not a comment) reads unsubscribe_url other than to show it.

    Only `{{ unsubscribe_url }}`, kept as it is (`safe`, `escape`), shows it: a tag or a filter chain
    that reads it (`|cut:…|yesno:…`, an argument) could tell the check's address from a real one.
    """
    commented = False
    for token in Lexer(source).tokenize():
        words = token.contents.split()
        if token.token_type == TokenType.BLOCK and words:
            commented = words[0] == "comment" or (commented and words[0] != "endcomment")
            if not commented and re.search(r"\bunsubscribe_url\b", token.contents):
                return True
        elif token.token_type == TokenType.VAR and not commented:
            name, *filters = (part.strip() for part in token.contents.split("|"))
            shown_as_is = name == "unsubscribe_url" and set(filters) <= _UNSUBSCRIBE_KEPT_BY
            if not shown_as_is and re.search(r"\bunsubscribe_url\b", token.contents):
                return True
    return False


#: The unsubscribe address the check renders a template with: a reserved host (RFC 2606), plain
#: characters autoescape leaves as they are.
_UNSUBSCRIBE_RENDERED = "https://campanile.invalid/unsubscribe-check"
#: That address in a text part as a reader's client makes a link of it: after a blank or an opening
#: bracket, before a blank, a closing bracket or the sentence's punctuation (not "…check-now").
_UNSUBSCRIBE_IN_TEXT = re.compile(
    rf"(?:^|(?<=[\s(<\[])){re.escape(_UNSUBSCRIBE_RENDERED)}(?=[)>\]]|[.,;:!?]*(?:\s|$))"
)


def _unsubscribe_shown(source: str, *, html: bool) -> bool:
    shown, commented = [], False
    for token in Lexer(source).tokenize():
        words = token.contents.split()
        if token.token_type == TokenType.BLOCK and words:
            commented = words[0] == "comment" or (commented and words[0] != "endcomment")
        elif commented:
            continue
        elif token.token_type == TokenType.TEXT:
            shown.append(token.contents)
        elif token.token_type == TokenType.VAR:
            name, *filters = (part.strip() for part in token.contents.split("|"))
            if name == "unsubscribe_url" and set(filters) <= _UNSUBSCRIBE_KEPT_BY:
                shown.append(_UNSUBSCRIBE_SHOWN)
    text = "".join(shown)
    return _UNSUBSCRIBE_SHOWN in (html_unshown_drop(text) if html else text)


#: Whom a template is previewed as when no contact is chosen or may be seen: nobody's data.
SAMPLE_CONTACT = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
SAMPLE_ATTRIBUTES = {"plan": "Gold"}


def template_preview_contact(*, wanted: str = "", may_see_contacts: bool) -> tuple[Contact, bool]:
    """Return whom a template's preview renders for, and whether it is the sample: the contact
    asked for (by email or id), else the first subscribed one, else the sample (always the sample
    for those who may not see contacts)."""
    if may_see_contacts:
        subscribed = Contact.objects.filter(status=Contact.Status.SUBSCRIBED, is_load_test=False)
        contact = _contact_wanted(wanted) if wanted.strip() else subscribed.order_by("pk").first()
        if contact is not None:
            return contact, False
    return Contact(**SAMPLE_CONTACT, attributes=SAMPLE_ATTRIBUTES), True


#: The columns of a contact export before the attributes, which follow as `attributes.<key>`.
CONTACT_EXPORT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "external_id",
    "status",
    "unsubscribed_at",
    "timezone",
    "lists",
    "created_at",
)


def contact_export_rows(*, contacts: QuerySet[Contact], with_lists: bool = True):
    """Yield a header and one row per contact: its fields, its lists (names, "; " between) and each
    attribute any of them has, in its own column; a re-import of the file maps them back.

    Without with_lists (for one who may not see list memberships) the lists column is left out.
    """
    keys: set[str] = set()
    for attributes in contacts.values_list("attributes", flat=True).iterator(chunk_size=2000):
        keys.update(attributes)
    attribute_keys = sorted(keys)
    columns = [name for name in CONTACT_EXPORT_COLUMNS if with_lists or name != "lists"]
    yield [*columns, *(f"attributes.{key}" for key in attribute_keys)]
    memberships: dict[int, list[str]] = {}
    if with_lists:
        names = dict(ContactList.objects.values_list("pk", "name"))
        for contact_id, list_id in (
            ListMembership.objects.filter(contact__in=contacts)
            .values_list("contact_id", "contact_list_id")
            .iterator(chunk_size=5000)
        ):
            memberships.setdefault(contact_id, []).append(names[list_id])
    for contact in contacts.order_by("email").iterator(chunk_size=2000):
        values = [
            "; ".join(sorted(memberships.get(contact.pk, []))) if name == "lists" else getattr(contact, name)
            for name in columns
        ]
        yield [
            *(
                "" if value is None else value.isoformat() if hasattr(value, "isoformat") else value
                for value in values
            ),
            *(json_cell_text(contact.attributes.get(key)) for key in attribute_keys),
        ]
