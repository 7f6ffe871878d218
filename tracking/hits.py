"""Opens and clicks: hits the tracking views recorded, judged (person or machine), made events in bulk."""

import contextlib
import dataclasses
import functools
import hashlib
import ipaddress
import json
import logging
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import redis
from django.conf import settings
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    OperationalError,
    connection,
    models,
    transaction,
)
from django.utils.translation import gettext_lazy as _
from psycopg.errors import DeadlockDetected
from uuid_utils.compat import uuid7

from core.db import rows_insert_new
from core.http import ip_parse
from core.redis_client import redis_client
from core.text import text_encodable
from delivery import compose as delivery_compose
from delivery import ledger as delivery_ledger
from delivery.models import StepExecution, TrackedLink
from tracking import metrics
from tracking.engagement import Engaged, engagement_add
from tracking.models import TrackingEvent, TrackingHit

# Gmail and Yahoo Mail fetch a message's images through their own proxies when a person opens it
# (the proxy hides the reader's device and address, not the open), then serve them from a cache:
# a proxied fetch is a person's open, counted once per email (docs/tracking.md, "Opens by client").
_OPEN_PROXY_AGENTS = re.compile(r"GoogleImageProxy|YahooMailProxy|ggpht\.com", re.IGNORECASE)
# Apple Mail Privacy Protection fetches every image on delivery, whether or not anyone reads it.
_PREFETCH_AGENTS = re.compile(r"Mail Privacy", re.IGNORECASE)

#: The kind of a person's open that came through Gmail's or Yahoo's image proxy (and of the
#: proxy's later fetches of the same email, which are machine opens).
VIA_PROXY = "proxy"
#: The kind of a machine open made by a privacy prefetch (Apple Mail Privacy Protection).
PREFETCH = "prefetch"
#: The kind of any other machine open or click: link scanners, security gateways, HEAD requests.
SCANNER = "scanner"


class ClientKind(models.TextChoices):
    """Who made an open or click, as the report breaks them down (docs/tracking.md)."""

    PERSON = "person", _("Person")
    #: Gmail's and Yahoo's image proxies, fetching when a person opens the email.
    PROXIED = "proxied", _("Person via image proxy")
    PREFETCH = "prefetch", _("Apple privacy prefetch")
    SCANNER = "scanner", _("Scanner or other machine")


def client_kind(*, kind: str, is_machine: bool) -> str:
    """Return the ClientKind of an open or click from its event's kind and machine flag.

    A proxy's later fetches of an email (machine opens, kind "proxy") and a machine's event written
    before kinds were kept (kind "") are counted with the scanners and other machines.
    """
    if is_machine:
        return ClientKind.PREFETCH if kind == PREFETCH else ClientKind.SCANNER
    return ClientKind.PROXIED if kind == VIA_PROXY else ClientKind.PERSON


# Security gateways follow every link of a new message within seconds of its delivery.
SCANNER_CLICK_SECONDS = 10


def ip_for_storage(address: str) -> str:
    """Return an address as TRACKING_IP_MODE allows it to be kept: truncated, hashed or not at all."""
    mode = settings.TRACKING_IP_MODE
    if not address or mode == "none":
        return ""
    ip = ip_parse(address)
    if ip is None:
        return ""
    if mode == "hash":
        return hashlib.sha256(f"{settings.SECRET_KEY}:{ip}".encode()).hexdigest()[:32]
    prefix = 24 if ip.version == 4 else 48  # The network, not the person.
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Hit:
    """A hit on its way to becoming an event, from the table or from Redis."""

    uid: str
    kind: str
    tracking_id: UUID
    link_id: int | None
    at: datetime
    method: str
    user_agent: str
    ip: str
    #: Whether it came from TRACKING_PROXY_NETWORKS, told from the raw address (which is not kept).
    proxy_network: bool = False


# After Redis fails, hits go straight to the table for this long: a click never waits on the
# client's reconnection retries while Redis is down.
REDIS_OUTAGE_SKIP_SECONDS = 5.0
_redis_outage = {"until": 0.0}


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


def hit_record(
    *, kind: str, tracking_id: UUID, link_id: int | None, method: str, user_agent: str, ip: str
) -> None:
    """Record one pixel fetch or click: one Redis push (or, without Redis, one lean INSERT).

    The consumer tick turns hits into events in bulk; until then they wait, in Redis or the table.
    """
    method, user_agent = _storable(method)[:8], _storable(user_agent)[:512]
    # Told now: a hashed address is in no network. With "none", no trace of the address is kept.
    proxy = settings.TRACKING_IP_MODE != "none" and _from_proxy_network(ip)
    ip = ip_for_storage(ip)
    metrics.TRACKING_HITS.inc(kind=kind)
    if settings.REDIS_URL and time.monotonic() >= _redis_outage["until"]:
        record = [uuid7().hex, kind, tracking_id.hex, link_id, time.time(), method, user_agent, ip, proxy]
        try:
            _redis().lpush(settings.TRACKING_HITS_REDIS_KEY, json.dumps(record))
            return
        except redis.RedisError as exc:
            # The reader's click must still redirect: keep the hit in the table the consumer also
            # drains, and spare the next hits Redis's retries for a while.
            _redis_outage["until"] = time.monotonic() + REDIS_OUTAGE_SKIP_SECONDS
            logger.warning("Redis is unavailable (%s); tracking hits go to the database for now.", exc)
    try:
        TrackingHit.objects.create(
            kind=kind,
            tracking_id=tracking_id,
            link_id=link_id,
            method=method,
            user_agent=user_agent,
            ip=_PROXY_MARK + ip if proxy else ip,
        )
    except DatabaseError:
        # Both stores are down: the hit is lost, but the reader still gets their page or pixel.
        logger.exception("A %s hit could not be recorded anywhere.", kind)


def _storable(text: str) -> str:
    """Return text PostgreSQL can store (text, jsonb): NUL dropped, lone surrogates spelled out."""
    return text_encodable(text.replace("\x00", ""))


# The table's row of a hit from a proxy network says so before its address: no migration, and the
# column (64 characters) holds it before a hash (32) or a truncated IPv6 address (39).
_PROXY_MARK = "proxy-network:"


def redis_outage_forget() -> None:
    """Try Redis again on the next hit (tests)."""
    _redis_outage["until"] = 0.0


@functools.cache
def _proxy_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network) for network in settings.TRACKING_PROXY_NETWORKS)


def _from_proxy_network(ip: str) -> bool:
    address = ip_parse(ip)
    return address is not None and any(address in network for network in _proxy_networks())


def hit_machine_kind(*, hit: _Hit, sent_at: datetime | None) -> str:
    """Tell a machine's fetch or click from a person's, by method, user agent, origin and timing:
    return the machine's kind (PREFETCH or SCANNER), or "" for a person.

    Apple Mail Privacy Protection fetches every image on delivery with the bare user agent
    "Mozilla/5.0" from Apple's network; no mail client a person reads with says only that.
    """
    if hit.method == "HEAD":
        return SCANNER
    if _PREFETCH_AGENTS.search(hit.user_agent):
        return PREFETCH
    if _OPEN_PROXY_AGENTS.search(hit.user_agent):
        # A proxy opens images; it clicks nothing.
        return "" if hit.kind == TrackingHit.Kind.OPEN else SCANNER
    if hit.kind == TrackingHit.Kind.OPEN and (hit.user_agent.strip() == "Mozilla/5.0" or hit.proxy_network):
        return PREFETCH
    if hit.kind == TrackingHit.Kind.CLICK and sent_at is not None:
        return SCANNER if (hit.at - sent_at).total_seconds() < SCANNER_CLICK_SECONDS else ""
    return ""


# A person clicks one link at a time; a scanner follows several within this window.
BURST_SECONDS = 1.0

# A scanner that followed the hidden link is blamed for the email's other clicks this close to it.
HONEYPOT_SECONDS = 5.0


def _machine_clicks(hits: list[_Hit]) -> set[str]:
    """Return the ids of clicks a scanner made: on the hidden link, near it, or in a burst.

    A burst is clicks on different links of one email within BURST_SECONDS of each other.
    """
    clicks: dict[UUID, list[_Hit]] = {}
    for hit in hits:
        if hit.kind == TrackingHit.Kind.CLICK:
            clicks.setdefault(hit.tracking_id, []).append(hit)
    trap = delivery_compose.honeypot_url()
    machine: set[str] = set()
    for group in clicks.values():
        group.sort(key=lambda hit: hit.at)
        machine |= _burst_clicks(group) | _burst_clicks(group[::-1])
        for bait in [hit for hit in group if hit.link_id is not None and link_target(hit.link_id) == trap]:
            machine.update(
                hit.uid for hit in group if abs((hit.at - bait.at).total_seconds()) <= HONEYPOT_SECONDS
            )
    return machine


def _burst_clicks(ordered: list[_Hit]) -> set[str]:
    """Return the ids of the clicks that had a click on another link of the same email within
    BURST_SECONDS before them, in `ordered`'s order (given reversed, after them): one pass, with
    the links of the clicks still within the window counted, however many clicks there are."""
    window: deque[_Hit] = deque()
    links: Counter[int | None] = Counter()
    burst: set[str] = set()
    for hit in ordered:
        while window and abs((hit.at - window[0].at).total_seconds()) > BURST_SECONDS:
            gone = window.popleft().link_id
            links[gone] -= 1
            if not links[gone]:
                del links[gone]
        if len(links) > 1 or (links and hit.link_id not in links):
            burst.add(hit.uid)
        window.append(hit)
        links[hit.link_id] += 1
    return burst


def _earlier_clicks(hits: list[_Hit]) -> dict[int, _Hit]:
    """Return, by event id, the written clicks of this batch's emails close enough to matter.

    A scanner's burst can straddle two consumer batches: its first clicks are judged again with
    the rest.
    """
    clicks = [hit for hit in hits if hit.kind == TrackingHit.Kind.CLICK]
    if not clicks:
        return {}
    since = min(hit.at for hit in clicks) - timedelta(seconds=max(HONEYPOT_SECONDS, BURST_SECONDS))
    rows = TrackingEvent.objects.filter(
        type=TrackingEvent.Type.CLICK,
        step_execution__tracking_id__in={hit.tracking_id for hit in clicks},
        occurred_at__gte=since,
    ).values_list("pk", "event_id", "occurred_at", "raw", "step_execution__tracking_id")
    return {
        pk: _Hit(
            event_id.removeprefix("hit:"),
            TrackingHit.Kind.CLICK,
            tracking_id,
            raw.get("link_id"),
            at,
            "",
            "",
            "",
        )
        for pk, event_id, at, raw, tracking_id in rows
    }


def _proxied_opens(*, pks: list[int]) -> set[int]:
    """Return which of these emails already have a person's open through an image proxy."""
    return set(
        TrackingEvent.objects.filter(
            step_execution_id__in=pks, type=TrackingEvent.Type.OPEN, kind=VIA_PROXY, is_machine=False
        ).values_list("step_execution_id", flat=True)
    )


def _events_from_hits(hits: list[_Hit]) -> list[TrackingEvent]:
    """Write one event per hit, in bulk; a hit seen before (a consumer that died) is skipped."""
    _rows_share_lock(tracking_ids={hit.tracking_id for hit in hits})
    rows = {
        row.tracking_id: row
        for row in StepExecution.objects.filter(tracking_id__in={hit.tracking_id for hit in hits}).only(
            "pk", "email", "tracking_id", "sent_at"
        )
    }
    earlier = _earlier_clicks(hits)
    bursts = _machine_clicks(hits + list(earlier.values()))
    # Clicks written by an earlier batch that this batch shows to be a scanner's.
    unmasked = [pk for pk, hit in earlier.items() if hit.uid in bursts]
    engaged = []
    if unmasked:
        still_human = [
            Engaged.of(event)
            for event in TrackingEvent.objects.select_for_update()
            .filter(pk__in=unmasked, is_machine=False)
            .only("step_execution_id", "type", "is_machine", "raw", "occurred_at")
        ]
        TrackingEvent.objects.filter(pk__in=unmasked, is_machine=False).update(is_machine=True, kind=SCANNER)
        for click in still_human:
            engaged += [dataclasses.replace(click, sign=-1), dataclasses.replace(click, is_machine=True)]
    proxied = _proxied_opens(pks=[row.pk for row in rows.values()])
    events = []
    for hit in hits:
        row = rows.get(hit.tracking_id)
        if row is None:
            continue  # Its row is gone: nothing to attach it to.
        detail = {"method": hit.method, "user_agent": hit.user_agent, "ip": hit.ip, "link_id": hit.link_id}
        if row.erased:  # Counted, as any open or click, but who read it is not kept.
            detail = {"method": hit.method, "link_id": hit.link_id}
        machine_kind = SCANNER if hit.uid in bursts else hit_machine_kind(hit=hit, sent_at=row.sent_at)
        machine = bool(machine_kind)
        via_proxy = hit.kind == TrackingHit.Kind.OPEN and bool(_OPEN_PROXY_AGENTS.search(hit.user_agent))
        if via_proxy and not machine:
            # Once per email: later fetches come from the proxy's cache or its refreshes.
            machine = row.pk in proxied
            proxied.add(row.pk)
        events.append(
            TrackingEvent(
                type=TrackingEvent.Type.OPEN
                if hit.kind == TrackingHit.Kind.OPEN
                else TrackingEvent.Type.CLICK,
                occurred_at=hit.at,
                recipient=row.email,
                step_execution=row,
                is_machine=machine,
                kind=VIA_PROXY if via_proxy else machine_kind,
                event_id=f"hit:{hit.uid}",
                raw={key: value for key, value in detail.items() if value not in ("", None)},
            )
        )
    inserted = rows_insert_new(events, key="event_id")
    events = [event for event in events if event.event_id in inserted]
    # A hit through the email's signed link proves SES took it: an `unknown` row is sent.
    delivery_ledger.step_executions_seen(
        execution_ids={event.step_execution_id for event in events if event.step_execution_id}
    )
    engagement_add(engaged=engaged + [Engaged.of(event) for event in events])
    return events


def _rows_share_lock(*, tracking_ids: set[UUID]) -> None:
    """Take the key-share locks the events' inserts would take on their ledger rows, all at once
    and in id order: the SES event consumer locks rows too, and rows locked one insert at a time,
    in the hits' order, crossed its locks into deadlocks."""
    if connection.vendor != "postgresql" or not tracking_ids:
        return
    table = StepExecution._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE tracking_id = ANY(%s) ORDER BY id FOR KEY SHARE",  # noqa: S608
            [list(tracking_ids)],
        )


# What the database (or the driver) raises over one row's values: that hit, not the batch, is bad.
_ROW_REFUSED = (DataError, IntegrityError, UnicodeError)


def _events_or_set_aside(hits: list[_Hit]) -> list[TrackingEvent]:
    """Write the hits' events in one transaction; if the database refuses a row, write them one by
    one and set aside (log and drop) each it still refuses, so one bad hit never stops the others."""
    try:
        with transaction.atomic():
            return _events_from_hits(hits)
    except _ROW_REFUSED:
        logger.warning(
            "The database refused a batch of %d tracking hits; applying them one by one.", len(hits)
        )
    events = []
    for hit in hits:
        try:
            with transaction.atomic():
                events += _events_from_hits([hit])
        except _ROW_REFUSED:
            logger.exception("Tracking hit set aside, never counted: the database refuses it: %r", hit)
    return events


def _apply_table_hits(batch: int) -> tuple[int, list[TrackingEvent]]:
    with transaction.atomic():
        rows = list(TrackingHit.objects.select_for_update(skip_locked=True).order_by("pk")[:batch])
        if not rows:
            return 0, []
        hits = [
            _Hit(
                f"db{r.pk}",
                r.kind,
                r.tracking_id,
                r.link_id,
                r.at,
                r.method,
                r.user_agent,
                r.ip.removeprefix(_PROXY_MARK),
                r.ip.startswith(_PROXY_MARK),
            )
            for r in rows
        ]
        events = _events_or_set_aside(hits)
        TrackingHit.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows), events


# Move up to ARGV[1] of the oldest hits to the processing list, atomically; return them.
_TAKE_LUA = """
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], 0, -#items - 1)
  for i = 1, #items do redis.call('RPUSH', KEYS[2], items[i]) end
end
return items
"""


def _hit_parse(raw: bytes) -> _Hit | None:
    try:
        uid, kind, tracking_id, link_id, at, method, user_agent, ip, *proxy = json.loads(raw)
        # A hit recorded before the flag was carried is judged by its kept (truncated) address.
        proxy_network = bool(proxy[0]) if proxy else _from_proxy_network(ip)
        at = datetime.fromtimestamp(at, UTC)
        return _Hit(uid, kind, UUID(tracking_id), link_id, at, method, user_agent, ip, proxy_network)
    except (ValueError, TypeError, OverflowError):
        return None


def _apply_redis_hits(batch: int) -> tuple[int, list[TrackingEvent]]:
    client, key = _redis(), settings.TRACKING_HITS_REDIS_KEY
    processing = f"{key}:processing"
    lock = client.lock(f"{key}:lock", timeout=300, blocking=False)
    if not lock.acquire():
        return 0, []  # Another consumer is at it.
    try:
        # Hits a consumer took and died on come first; their events are skipped if already written.
        raw = client.lrange(processing, 0, -1) or client.eval(_TAKE_LUA, 2, key, processing, batch)
        if not raw:
            return 0, []
        hits = [hit for hit in map(_hit_parse, raw) if hit is not None]
        # The list goes once its events are written: a hit the database refuses must not stay in it.
        events = _events_or_set_aside(hits)
        client.delete(processing)
        return len(raw), events
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


def _deadlock_spared(apply: Callable[[int], tuple[int, list[TrackingEvent]]], batch: int):
    """Run one batch's apply; a batch the database aborts in a deadlock is left where it was,
    whole, for the next tick (a passing clash with the SES event consumer, not a failure)."""
    try:
        return apply(batch)
    except OperationalError as exc:
        if not isinstance(exc.__cause__, DeadlockDetected):
            raise
        logger.warning("Tracking hits waited in a deadlock; the batch is applied on the next tick.")
        return 0, []


def tracking_hits_apply(*, batch: int = 5000) -> int:
    """Turn a batch of recorded hits (table, then Redis) into TrackingEvents; return how many hits."""
    taken, events = _deadlock_spared(_apply_table_hits, batch)
    if settings.REDIS_URL:
        try:
            from_redis, more = _deadlock_spared(_apply_redis_hits, batch)
        except redis.RedisError as exc:
            # Hits in Redis wait there; the table's (kept during the outage) are applied now.
            logger.warning("Redis is unavailable (%s); only the table's tracking hits applied.", exc)
        else:
            taken, events = taken + from_redis, events + more
    for event in events:
        metrics.SES_EVENTS.inc(type=event.type)
    return taken


@functools.lru_cache(maxsize=10_000)
def link_target(link_id: int) -> str | None:
    """Return where a tracked link leads (links never change, so each process remembers them)."""
    return TrackedLink.objects.filter(pk=link_id).values_list("url", flat=True).first()
