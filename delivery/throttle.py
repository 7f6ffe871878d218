"""One sending rate for the whole fleet: a shared schedule of send slots, sized from the SES quota.

Every worker thread on every machine asks for a slot before each SES call. Slots are handed out
`1 / rate` seconds apart on one shared timeline (GCRA, the "virtual scheduling" form of a token
bucket with no burst), so no 1-second window ever holds more than `rate` (+1) calls, however many
workers ask. The timeline lives in Redis, advanced by one atomic Lua script against Redis's own
clock; without REDIS_URL (the embedded setup) it lives in a database row under a row lock.

Transactional mail goes first: while it has demand, bulk mail only takes a slot that is free right
now and never queues ahead of it.
"""

import logging
import time
from dataclasses import dataclass
from functools import cache
from typing import overload

from django.conf import settings
from django.db import transaction

from core.redis_client import redis_client
from delivery import metrics
from delivery.models import RateLimiterState
from delivery.ses import ses_send_quota

logger = logging.getLogger(__name__)

LANE_TRANSACTIONAL = "transactional"
LANE_BULK = "bulk"

# How far ahead a caller may book a slot; past it, the caller comes back later instead of holding
# a slot it may not live to use.
MAX_BOOKING_SECONDS = 1.0
# How long a transactional request keeps bulk out of the queue after it was last seen.
DEMAND_SECONDS = 1.0


@dataclass(frozen=True)
class SendRate:
    per_second: float
    #: Where the rate came from: "setting" or "SES quota".
    source: str
    #: Sends left in SES's rolling 24 hours, or None when unknown (set by hand, quota unreadable).
    remaining_24h: float | None = None


_rate_cache: tuple[float, SendRate] | None = None
# The rate last put on the fleet's gauge by this process.
_rate_reported: float | None = None


def send_rate_current() -> SendRate:
    """Return the fleet's sending rate: SES_MAX_SEND_RATE if set, else SES's MaxSendRate × factor.

    The quota is read from SES once per SES_QUOTA_REFRESH_SECONDS per process. If it cannot be
    read, the last known rate stays, or 1/s (the SES sandbox's rate) before any was known.
    """
    global _rate_cache, _rate_reported
    if settings.SES_MAX_SEND_RATE > 0:
        if _rate_reported != settings.SES_MAX_SEND_RATE:  # Reported when it changes, not per send.
            metrics.SEND_RATE.set(settings.SES_MAX_SEND_RATE)
            _rate_reported = settings.SES_MAX_SEND_RATE
        return SendRate(per_second=settings.SES_MAX_SEND_RATE, source="setting")
    now = time.monotonic()
    if _rate_cache is not None and now - _rate_cache[0] < settings.SES_QUOTA_REFRESH_SECONDS:
        return _rate_cache[1]
    try:
        quota = ses_send_quota()
    except Exception:  # Any failure to read the quota must not stop sending at a safe rate.
        logger.exception("Could not read the SES sending quota; keeping the last known rate.")
        rate = _rate_cache[1] if _rate_cache else SendRate(per_second=1.0, source="fallback")
    else:
        rate = SendRate(
            per_second=max(quota.max_send_rate * settings.SES_RATE_SAFETY_FACTOR, 0.1),
            source="SES quota",
            remaining_24h=quota.max_24_hour_send - quota.sent_last_24_hours,
        )
        metrics.QUOTA_MAX.set(quota.max_24_hour_send)
        metrics.QUOTA_USED.set(quota.sent_last_24_hours)
    metrics.SEND_RATE.set(rate.per_second)
    _rate_cache, _rate_reported = (now, rate), rate.per_second
    return rate


def send_rate_forget() -> None:
    """Drop this process's cached rate (tests, or after the SES quota was raised)."""
    global _rate_cache, _rate_reported
    _rate_cache = _rate_reported = None


def _redis_keys() -> list[str]:
    prefix = settings.SEND_RATE_REDIS_KEY
    return [f"{prefix}:timeline", f"{prefix}:transactional-demand"]


def send_slots_reset() -> None:
    """Forget every booked slot and the transactional demand: the timeline starts afresh."""
    if settings.REDIS_URL:
        redis_client(settings.REDIS_URL).delete(*_redis_keys())
    else:
        RateLimiterState.objects.all().delete()


@dataclass(frozen=True)
class Booking:
    #: Whether a slot was booked; if not, come back after `wait`.
    granted: bool
    #: Seconds until the booked slot (granted) or until asking again is worthwhile (refused).
    wait: float


# KEYS: timeline, transactional demand. ARGV: interval (µs), lane, longest booking (µs), demand
# lifetime (ms). Times are integer microseconds from Redis's clock, written with %.0f: Lua's
# tostring() keeps 14 significant digits, and a clock stored that way steps backwards.
_BOOK_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local longest = tonumber(ARGV[3])
if ARGV[2] == 'transactional' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  longest = 0
end
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local wait = slot - now
if wait > longest then
  return {0, math.max(wait - longest, interval)}
end
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', 60000)
return {1, wait}
"""


@cache
def _book_script():
    return redis_client(settings.REDIS_URL).register_script(_BOOK_LUA)


def _book_redis(*, interval_us: int, lane: str) -> tuple[bool, int]:
    args = [interval_us, lane, int(MAX_BOOKING_SECONDS * 1e6), int(DEMAND_SECONDS * 1000)]
    granted, wait_us = _book_script()(keys=_redis_keys(), args=args)
    return bool(granted), int(wait_us)


def _book_database(*, interval_us: int, lane: str) -> tuple[bool, int]:
    # The same algorithm as the Lua script, serialized by a row lock; the clock is this machine's,
    # which is every process's in the embedded setup this serves.
    now = time.time_ns() // 1000
    longest = int(MAX_BOOKING_SECONDS * 1e6)
    with transaction.atomic():
        state, _ = RateLimiterState.objects.select_for_update().get_or_create(name="send")
        if lane == LANE_TRANSACTIONAL:
            state.demand_until_us = now + int(DEMAND_SECONDS * 1e6)
        elif state.demand_until_us > now:
            longest = 0
        slot = max(state.next_slot_us, now)
        wait = slot - now
        if wait > longest:
            state.save(update_fields=["demand_until_us"])
            return False, max(wait - longest, interval_us)
        state.next_slot_us = slot + interval_us
        state.save(update_fields=["next_slot_us", "demand_until_us"])
    return True, wait


def send_slot_book(*, lane: str, rate: float) -> Booking:
    """Book the next send slot on the fleet's timeline at `rate` per second, if one is near."""
    interval_us = max(int(1e6 / rate), 1)
    book = _book_redis if settings.REDIS_URL else _book_database
    granted, wait_us = book(interval_us=interval_us, lane=lane)
    return Booking(granted=granted, wait=wait_us / 1e6)


@overload
def send_slot_wait(*, lane: str, deadline: None = None) -> float: ...
@overload
def send_slot_wait(*, lane: str, deadline: float | None) -> float | None: ...
def send_slot_wait(*, lane: str, deadline: float | None = None) -> float | None:
    """Book this caller's next SES call and block until it; return its moment (monotonic).

    None if `deadline` (monotonic) would come first.
    """
    while True:
        booking = send_slot_book(lane=lane, rate=send_rate_current().per_second)
        moment = time.monotonic() + booking.wait
        if deadline is not None and moment > deadline:
            return None  # A booked slot left unused only delays the fleet by one interval.
        if not booking.granted:
            time.sleep(booking.wait)
            continue
        time.sleep(max(booking.wait, 0.0))
        return moment


# How late a call may leave after its slot. Calls up to L late can put rate × L extra calls in
# one second, so 10 ms keeps the busiest second within 1% of the rate at any rate, with room
# left for the way to SES.
SLOT_TOLERANCE_SECONDS = 0.01


def send_slot_reach(*, moment: float) -> bool:
    """Sleep until a booked moment; False if it passed too long ago to be used: book another."""
    late = time.monotonic() - moment
    if late < 0:
        time.sleep(-late)
        # A busy machine can wake a sleeper well after its moment: judge the waking, not the plan.
        late = time.monotonic() - moment
    return late <= SLOT_TOLERANCE_SECONDS
