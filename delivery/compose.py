"""Composing a row's email: its envelope and SES tags, tracked links and pixel, unsubscribe headers."""

import functools
import hashlib
import logging
import re
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, replace
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils.translation import gettext

from campaigns.exceptions import TemplateLimitExceeded
from campaigns.models import Campaign, CampaignStep, Template
from campaigns.rendering import RenderedEmail
from campaigns.validators import SES_NAME
from core.addresses import email_validate, mailbox_canonical
from core.text import grouped
from delivery import tokens
from delivery.exceptions import SenderInvalid, TooManyLinks
from delivery.links import LinkMarks
from delivery.models import StepExecution, TrackedLink, TransactionalMessage

logger = logging.getLogger(__name__)

# SES message tags Campanile adds to every email; they come back on SES events to find the row.
# Prefixed, because integrators send tags of their own ("campaign" in the AWS load-test sample).
TAG_PREFIX = "campanile_"

TAG_CAMPAIGN = f"{TAG_PREFIX}campaign"

TAG_STEP = f"{TAG_PREFIX}step"

TAG_STEP_EXECUTION = f"{TAG_PREFIX}step_execution"

TAG_MESSAGE = f"{TAG_PREFIX}message"

#: On a test send: its SES events belong to no ledger row.
TAG_TEST = f"{TAG_PREFIX}test"


@dataclass(frozen=True)
class Envelope:
    """Everything about a row's email that is not the per-contact rendering."""

    from_email: str
    reply_to: str
    configuration_set: str
    #: SES message tags; they come back on every SES event for this email.
    tags: dict[str, str]
    template: Template


def configuration_set_of(sender: Campaign | TransactionalMessage) -> str:
    """Return the SES configuration set a campaign's or a message's emails go out with."""
    return sender.configuration_set or settings.SES_CONFIGURATION_SET


def step_execution_envelope(*, execution: StepExecution) -> Envelope:
    """Return the envelope of a ledger row, from its campaign step or its transactional message."""
    message = execution.message  # None, without a query, on a campaign row.
    if message is not None:
        return Envelope(
            from_email=message.from_email,
            reply_to="",
            configuration_set=configuration_set_of(message),
            tags={
                **message.tags,
                TAG_MESSAGE: str(message.pk),
                TAG_STEP_EXECUTION: str(execution.tracking_id),
            },
            template=message.template,
        )
    return step_envelope(step=execution.campaign_step, tags={TAG_STEP_EXECUTION: str(execution.tracking_id)})


def step_envelope(*, step: CampaignStep, tags: dict[str, str]) -> Envelope:
    """Return the envelope of a campaign step's emails, tagged with the step and these tags."""
    campaign = step.campaign
    return Envelope(
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
        configuration_set=configuration_set_of(campaign),
        tags={TAG_CAMPAIGN: str(campaign.pk), TAG_STEP: str(step.pk), **tags},
        template=step.template,
    )


def step_execution_unsubscribe_url(*, execution: StepExecution) -> str:
    """Return the row's signed one-click unsubscribe URL (served by tracking)."""
    return settings.PUBLIC_BASE_URL + reverse("unsubscribe", args=[_unsubscribe_token(execution)])


def _unsubscribe_token(execution: StepExecution) -> str:
    """Return the row's unsubscribe token: the same one each time this row object is asked.

    Sealing is random (Fernet's IV and time), so the token is kept on the row object: its link
    tracking (step_execution_track_marks) must know the very token its email's link carries.
    """
    named = (execution.tracking_id, execution.email)
    kept = getattr(execution, "_campanile_unsubscribe_token", None)
    if kept is None or kept[0] != named:
        kept = (named, tokens.unsubscribe_token(tracking_id=execution.tracking_id, email=execution.email))
        setattr(execution, "_campanile_unsubscribe_token", kept)  # noqa: B010 (no field of the model)
    return kept[1]


# Link ids by (step, URL): every recipient of a step shares its links, so the database is asked
# once per link and process.
_link_ids: dict[tuple[int, str], int] = {}

_link_ids_lock = threading.Lock()

_LINK_CACHE_SIZE = 10_000


def _may_name_someone(url: str) -> bool:
    return "@" in url or "%40" in url.lower()


def step_link_ids(*, step_id: int, urls: list[str]) -> dict[str, int]:
    """Return the ids of a step's links to `urls`, recording new ones: one query for all misses."""
    with _link_ids_lock:
        found = {url: _link_ids[(step_id, url)] for url in urls if (step_id, url) in _link_ids}
    missing = {hashlib.sha256(url.encode()).hexdigest(): url for url in urls if url not in found}
    if missing:
        TrackedLink.objects.bulk_create(
            [TrackedLink(step_id=step_id, url_hash=digest, url=url) for digest, url in missing.items()],
            ignore_conflicts=True,
        )
        stored = TrackedLink.objects.filter(step_id=step_id, url_hash__in=missing)
        fresh = {missing[digest]: pk for digest, pk in stored.values_list("url_hash", "pk")}
        with _link_ids_lock:
            if len(_link_ids) + len(fresh) >= _LINK_CACHE_SIZE:
                _link_ids.clear()
            # Not a link that may name someone (an address, as written or encoded): an erasure
            # rewrites it in the database, and this process must then not reuse its id.
            _link_ids.update({(step_id, url): pk for url, pk in fresh.items() if not _may_name_someone(url)})
        found.update(fresh)
    return found


def step_link_id(*, step_id: int, url: str) -> int:
    """Return the id of a step's link to `url`, recording the link the first time."""
    return step_link_ids(step_id=step_id, urls=[url])[url]


@functools.cache
def _tracking_prefixes(base: str) -> tuple[str, ...]:
    """Return our own link prefixes (click, open, unsubscribe): links starting with or holding one
    (a recipient's token) are never tracked."""
    return tuple(base + reverse(name, args=["x"])[:-1] for name in ("click", "open", "unsubscribe"))


def honeypot_url() -> str:
    """Return the target of the hidden link in tracked mail: only machines ever follow it."""
    return f"{settings.PUBLIC_BASE_URL}/?campanile-honeypot"


def step_execution_track_marks(*, execution: StepExecution) -> LinkMarks | None:
    """Return how to mark a campaign row's links and pixel in its render, or None if untracked."""
    campaign = execution.campaign_step.campaign
    if not (campaign.track_clicks or campaign.track_opens):
        return None
    base = settings.PUBLIC_BASE_URL
    pixel_url = None
    if campaign.track_opens:
        token = tokens.step_execution_token(tracking_id=execution.tracking_id, purpose=tokens.OPEN)
        pixel_url = base + reverse("open", args=[token])
    return LinkMarks(
        marker=f"campanile-link-{secrets.token_hex(8)}-",
        clicks=campaign.track_clicks,
        pixel_url=pixel_url,
        keep_prefixes=_tracking_prefixes(base),
        honeypot_url=honeypot_url(),
        own_tokens=(_unsubscribe_token(execution),),
    )


def step_execution_track_resolve(
    *, execution: StepExecution, rendered: RenderedEmail, marks: LinkMarks
) -> RenderedEmail:
    """Put the signed click URLs in place of an email's marked links, looked up in one query.

    Raises TooManyLinks past TRACKING_MAX_LINKS distinct links: each is a row of the database; and
    TemplateLimitExceeded if the tracked email would pass TEMPLATE_MAX_OUTPUT_CHARS.
    """
    pattern = marks.pattern()
    parts = (rendered.html, rendered.text)
    # One pass over the email: each marker once, with how often it occurs.
    occurrences = Counter(match.group(0) for part in parts for match in pattern.finditer(part))
    targets = list(dict.fromkeys(marker[len(marks.marker) : -1] for marker in occurrences))
    if not targets:
        return rendered
    if len(targets) > settings.TRACKING_MAX_LINKS:
        said = gettext("the email has more than %(n)s distinct links to track")
        raise TooManyLinks(said % {"n": grouped(settings.TRACKING_MAX_LINKS)})
    urls = {encoded: LinkMarks.target(encoded) for encoded in targets}
    link_ids = step_link_ids(step_id=execution.campaign_step.pk, urls=list(urls.values()))
    base = settings.PUBLIC_BASE_URL
    click_urls = {
        encoded: base
        + reverse("click", args=[tokens.click_token(tracking_id=execution.tracking_id, link_id=pk)])
        for encoded, pk in ((encoded, link_ids[url]) for encoded, url in urls.items())
    }

    # Each link's click URL is longer than its marker: the email as sent stays within the bound.
    limit = settings.TEMPLATE_MAX_OUTPUT_CHARS
    growth = sum(
        count * (len(click_urls[marker[len(marks.marker) : -1]]) - len(marker))
        for marker, count in occurrences.items()
    )
    if (size := len(rendered.subject) + sum(map(len, parts)) + growth) > limit:
        raise TemplateLimitExceeded(
            f"with its links tracked the email is {size:,} characters; the limit is {limit:,}"
        )

    def resolve(match: re.Match) -> str:
        return click_urls[match.group(1)]

    html, text = (pattern.sub(resolve, part) for part in parts)
    return replace(rendered, html=html, text=text)


def step_execution_track(*, execution: StepExecution, rendered: RenderedEmail) -> RenderedEmail:
    """Return a campaign row's email with its links tracked and an open pixel, in this process.

    For an email already rendered; sending marks the links in the render sandbox instead.
    """
    marks = step_execution_track_marks(execution=execution)
    if marks is None:
        return rendered
    template = execution.campaign_step.template
    marked = marks(rendered, (template.subject, template.html_body, template.text_body))
    return step_execution_track_resolve(execution=execution, rendered=marked, marks=marks)


def _list_unsubscribe_headers(*, unsubscribe_url: str) -> dict[str, str]:
    """Return RFC 8058 one-click unsubscribe headers, which Gmail and Yahoo require of bulk mail."""
    targets = [f"<{unsubscribe_url}>"]
    if settings.UNSUBSCRIBE_MAILTO:
        # The token names the row, so whoever reads the mailbox can tell who wrote.
        subject = quote(f"unsubscribe {unsubscribe_url.rsplit('/', 1)[-1]}")
        targets.append(f"<mailto:{settings.UNSUBSCRIBE_MAILTO}?subject={subject}>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def step_execution_build_message(
    *,
    execution: StepExecution,
    envelope: Envelope,
    rendered: RenderedEmail,
    unsubscribe_url: str = "",
) -> EmailMultiAlternatives:
    """Build a fresh message for one row: django-ses writes its status into the message it sends.

    Campaign mail carries one-click unsubscribe headers; transactional mail (`unsubscribe_url`
    empty) does not, as marketing unsubscribes do not stop it. Raises SenderInvalid when the
    envelope's sender or reply-to is not one valid mailbox, or its configuration set no SES name.
    """
    # SES strips both X-SES headers before delivery.
    headers = {"X-SES-MESSAGE-TAGS": ", ".join(f"{name}={value}" for name, value in envelope.tags.items())}
    if envelope.configuration_set:
        # A name saved before the rule (or around it) fails its rows here, before any send starts.
        if not SES_NAME.fullmatch(envelope.configuration_set):
            raise SenderInvalid(
                f"Not sent: the configuration set {envelope.configuration_set!r} is not an SES name."
            )
        headers["X-SES-CONFIGURATION-SET"] = envelope.configuration_set
    if unsubscribe_url:
        headers.update(_list_unsubscribe_headers(unsubscribe_url=unsubscribe_url))
    # Re-written from the parsed mailbox, never passed on as stored: a value saved before the
    # sender rule, or around it, cannot become two addresses or a second header line.
    try:
        from_email = mailbox_canonical(envelope.from_email)
        reply_to = [mailbox_canonical(envelope.reply_to)] if envelope.reply_to else None
        # The recipient too, as stored before the address rule it may be two ("a@b.com,c@d.com").
        email_validate(execution.email)
    except ValidationError as exc:
        raise SenderInvalid(gettext("Not sent: %(why)s") % {"why": exc.messages[0]}) from None
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_email,
        to=[execution.email],
        reply_to=reply_to,
        headers=headers,
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    return message
