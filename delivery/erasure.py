"""An erased contact's share of the ledger: its emails stay, counted, without its address."""

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast, Length
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignStep, Contact
from core.addresses import address_mentions, address_written_out
from delivery import tokens
from delivery.messages import message_codes_keep
from delivery.models import Engagement, StepExecution, TrackedLink, TransactionalMessage

Status = StepExecution.Status

#: What an erased address reads as wherever text kept it (an SES error note).
ERASED = "[erased]"

#: Name parts and external ids shorter than this are not looked for in links: "Al" or "Jo" is a
#: piece of too many words.
_SHORTEST_SOUGHT = 3

#: What a template may show of a contact besides its attributes (campaigns.rendering.template_context;
#: its full name is its first and last).
_SHOWN = ("email", "first_name", "last_name", "external_id", "timezone")


def text_redact(rows: QuerySet, *, field: str, emails: Iterable[str]) -> None:
    """Write the addresses out of a text column of these rows, as ERASED: each whole mention (never
    part of a longer address), and one cut short where the column's length cut the text."""
    cap = rows.model._meta.get_field(field).max_length
    for email in emails:
        named = Q(**{f"{field}__icontains": email})
        if cap is not None:  # A text at its cap may end in the address's start alone.
            named |= Q(**{f"{field}__icontains": email[: email.find("@") + 1], "_length__gte": cap})
        found = rows.annotate(_length=Length(field)).filter(named)
        for pk, text in found.values_list("pk", field):
            written = address_written_out(text, email, ERASED, cap=cap)
            if written != text:
                rows.model._base_manager.filter(pk=pk).update(**{field: written})


def contact_addresses_campaigned(*, contact_id: int) -> set[str]:
    """Return the addresses a contact's campaign emails went to: its own when each was made.

    Not its transactional mail's: an integrator's `user_id` names the contact, and `to` may be
    anyone's address (a gift's recipient).
    """
    rows = StepExecution.objects.filter(contact_id=contact_id, step__isnull=False).exclude(email="")
    return set(rows.order_by().values_list("email", flat=True).distinct())


def step_executions_erase(*, contact_id: int, emails: set[str], named: list[int]) -> list[int]:
    """Drop addresses from the emails sent to them, and detach the contact's; return their ids.

    The emails are the contact's, those an integrator sent to the addresses under another contact
    (a key's `user_id` names the contact, `to` the address), and `named`: rows the events name
    them in. Every row stays with its status and outcome, so counts and rates do not move. Mail not
    yet on its way never will be: pending rows, and claimed rows whose SES call has not begun
    (their worker finds them cancelled and sends nothing), are cancelled. A call already under way
    ends as it would; its events are kept without the address (tracking.erasure). Call it inside
    the erasing transaction.
    """
    messages = list(TransactionalMessage.objects.filter(to_email__in=emails).values_list("pk", flat=True))
    # And another contact's settled emails to the address (skipped, failed: no event names them);
    # its unsent ones go to that contact's address when claimed, so they are left to go.
    settled_there = Q(email__in=emails) & ~Q(status__in=[Status.PENDING, Status.SENDING])
    addressed = Q(contact_id=contact_id) | Q(message_id__in=messages) | Q(pk__in=named) | settled_there
    # Locked in id order, as the sender and the SES events lock them.
    ids = list(
        StepExecution.objects.filter(addressed)
        .select_for_update()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rows = StepExecution.objects.filter(pk__in=ids)
    contact_links_erase(contact_id=contact_id, emails=emails)  # While its rows tell which steps mailed it.
    now = timezone.now()
    unsent = Q(status=Status.PENDING) | Q(status=Status.SENDING, send_started_at__isnull=True)
    rows.filter(unsent).update(
        status=Status.CANCELLED, lease_expires_at=None, last_error="Its recipient was erased.", updated_at=now
    )
    text_redact(rows, field="last_error", emails=emails)
    rows.update(email="", updated_at=now)
    rows.filter(contact_id=contact_id).update(contact=None)
    Engagement.objects.filter(step_execution_id__in=ids, contact_id=contact_id).update(contact=None)
    # The request's variables, tags and idempotency code are the integrator's words about the
    # person; the fingerprint hashes them with the address. The code is kept as a keyed digest,
    # so a retry of the request still replays rather than mails them again.
    theirs = TransactionalMessage.objects.filter(Q(contact_id=contact_id) | Q(pk__in=messages))
    message_codes_keep(messages=theirs)
    theirs.update(to_email="", context={}, tags={}, unique_code=None, fingerprint="")
    TransactionalMessage.objects.filter(contact_id=contact_id).update(contact=None)
    return ids


def _unsubscribe_path() -> str:
    return reverse("unsubscribe", args=["x"])[:-1]


def _tokens_opening_to(url: str, *, emails: set[str]) -> set[str]:
    """Return the unsubscribe tokens in the URL (written or percent-encoded) sealing one of the
    addresses: a token's characters are the same in every encoding, so each is found as written."""
    pattern = re.compile(re.escape(_unsubscribe_path()) + r"([A-Za-z0-9_-]+)")
    seen, found = url, set()
    for _ in range(3):  # Encoded up to twice, as a nested URL is, then once more by a filter.
        found.update(pattern.findall(seen))
        if (decoded := unquote(seen)) == seen:
            break
        seen = decoded
    wanted = {email.lower() for email in emails}
    return {
        token
        for token in found
        if (read := tokens.unsubscribe_token_read(token)) and read[1].lower() in wanted
    }


def _url_forms(value: str) -> set[str]:
    """Return the ways a link may hold a value a template put in it: as written, percent-encoded (as
    a path, a query, a form with `+` for spaces), and each of those encoded again, as a nested URL is."""
    once = {value, quote(value, safe=""), quote(value, safe="/"), quote_plus(value)}
    return once | {quote(form, safe="") for form in once}


def _tracked_link_write(*, pk: int, url: str) -> None:
    """Give a tracked link its URL written out; its clicks keep counting under it."""
    # Its hash no longer that of any rendered URL, so no new email reuses it.
    unused = hashlib.sha256(f"{ERASED}:{pk}".encode()).hexdigest()
    TrackedLink.objects.filter(pk=pk).update(url=url, url_hash=unused)


def tracked_links_erase(*, emails: set[str]) -> int:
    """Write the addresses out of the tracked links holding them (a link a template personalised
    with the address, as written or URL-encoded, or with an unsubscribe URL sealing it, as links
    were tracked before those were kept untracked); return how many changed. Their clicks keep
    counting, under a link that names no one; a new email renders its own link again."""
    forms = {form for email in emails for form in _url_forms(email)}
    named = Q()
    for form in forms:
        named |= Q(url__icontains=form)
    # A sealed token names no one as written: every link holding our unsubscribe path is opened.
    path = _unsubscribe_path()
    for form in (path, quote(path, safe=""), quote(quote(path, safe=""), safe="")):
        named |= Q(url__icontains=form)
    changed = 0
    for pk, url in (
        TrackedLink.objects.filter(named).select_for_update().order_by("pk").values_list("pk", "url")
    ):
        written = url
        for token in _tokens_opening_to(url, emails=emails):
            written = written.replace(token, ERASED)
        for form in forms:
            written = address_written_out(written, form, ERASED, encoded=True)
        if written != url:
            _tracked_link_write(pk=pk, url=written)
            changed += 1
    return changed


def _values_mentions(values: Iterable[str]) -> "re.Pattern[str]":
    """Return a pattern of the values written whole in a link, in any of their forms (_url_forms)
    and any case: a letter or digit beside one, as written or percent-encoded outside ASCII, makes
    it part of a longer word ("Ann" is not in "Annabel" nor in "Ann%C3%A9e"); any other sign is a
    separator, written or encoded (`-`, `+`, `_`, `%3D`, `%253D` encoded twice)."""
    forms = sorted({form for value in values for form in _url_forms(value)}, key=len, reverse=True)
    before = r"(?:(?<![^\W_])|(?<=%[0-7][0-9A-Fa-f])|(?<=%25[0-7][0-9A-Fa-f]))"
    after = r"(?![^\W_])(?!%(?:25)?[89A-Fa-f])"
    return re.compile(f"{before}(?:{'|'.join(map(re.escape, forms))}){after}", re.IGNORECASE)


def _held_by_another(*, step_id: int, contact_id: int, values: Iterable[str]) -> bool:
    """Tell whether another recipient of the step holds each of the values, in any case, somewhere a
    template may show of it (a field, its attributes): its email may have the link they are in."""
    others = (
        StepExecution.objects.filter(step_id=step_id, contact__isnull=False)
        .exclude(contact_id=contact_id)
        .annotate(_attributes=Cast("contact__attributes", TextField()))
    )
    for value in values:
        holds = Q(_attributes__icontains=value)
        for field in _SHOWN:
            holds |= Q(**{f"contact__{field}__icontains": value})
        others = others.filter(holds)
    return others.exists()


def contact_links_erase(*, contact_id: int, emails: set[str]) -> int:
    """Write the contact's name parts and external id out of the links of its campaign emails that
    can only be its own; return how many changed.

    A link is one row per (step, URL), shared by every recipient whose email rendered that URL, so
    a link of a step that mailed the contact is taken for its own only when it holds one of its
    addresses (`emails`: no one else's), or when it holds, whole (_values_mentions), values of the
    contact's that the step's template does not hold itself (a last name "Summer" in
    `/collections/summer` may be everyone's text) and that no other recipient of the step holds all
    together (another Ada's `?hi=Ada`; `/u/zebulon@…` for the address zebulon@…). Every name part
    and external id of the contact's is written out of such a link; the addresses are
    tracked_links_erase's. Values under _SHORTEST_SOUGHT characters are not looked for. Call it
    while the contact's rows still name it.
    """
    fields = Contact.objects.filter(pk=contact_id).values_list("first_name", "last_name", "external_id")
    values = {value.strip() for value in fields.first() or () if len(value.strip()) >= _SHORTEST_SOUGHT}
    if not values:
        return 0
    mentions = {value: _values_mentions([value]) for value in values}
    addresses = {form for email in emails for form in _url_forms(email)}
    addressed = [address_mentions(form, encoded=True) for form in addresses]
    mailed = StepExecution.objects.filter(contact_id=contact_id, step__isnull=False).values("step_id")
    changed = 0
    for step in CampaignStep.objects.filter(pk__in=mailed).select_related("template").order_by("pk"):
        template = step.template
        source = "\n".join((template.subject, template.html_body, template.text_body))
        telling = {value for value in values if not mentions[value].search(source)}
        if not (telling or addresses):
            continue
        held = Q()
        for form in {form for value in telling for form in _url_forms(value)} | addresses:
            held |= Q(url__icontains=form)
        shared: dict[frozenset[str], bool] = {}  # By the values found: a step may have many links.
        links = TrackedLink.objects.filter(held, step=step).select_for_update().order_by("pk")
        for pk, url in links.values_list("pk", "url"):
            ours = [value for value in values if mentions[value].search(url)]
            if not ours:
                continue
            if not any(pattern.search(url) for pattern in addressed):
                found = frozenset(ours) & telling
                if not found:
                    continue
                if found not in shared:
                    shared[found] = _held_by_another(step_id=step.pk, contact_id=contact_id, values=found)
                if shared[found]:
                    continue
            _tracked_link_write(pk=pk, url=_values_mentions(ours).sub(ERASED, url))
            changed += 1
    return changed
