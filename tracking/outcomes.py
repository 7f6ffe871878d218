"""What SES and recipients report of an email, counted once per email: the one table, and the rates.

The step counters (`StepEngagement`), the campaign figures, the API's statistics, the report and
CloudWatch all take their outcome figures from COUNTED_OUTCOMES; every rate, the reputation
guard's and the alerts' included, comes from `campaign_rates`. (The ledger's own outcome column
and its precedence are delivery's: `StepExecution.OUTCOME_RANK`.)
"""

from dataclasses import dataclass

from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tracking.bounces import ACCOUNT_SUPPRESSED, HARD, SOFT
from tracking.models import TrackingEvent

Type = TrackingEvent.Type


@dataclass(frozen=True)
class CountedOutcome:
    """One figure counted per email: its counter's name, what it means, and where it is published."""

    key: str
    help: str
    #: The metric's name on CloudWatch, for the figures published there.
    cloudwatch: str = ""


COUNTED_OUTCOMES = (
    CountedOutcome(
        "delivered",
        "Emails delivered: SES reported it, or their recipient showed it first (opened, clicked, "
        "unsubscribed, complained).",
        cloudwatch="Delivered",
    ),
    CountedOutcome(
        "bounced",
        "Emails that bounced, of any class: bounced_hard + bounced_soft + bounced_other, each email in "
        "one class.",
        cloudwatch="Bounces",
    ),
    CountedOutcome(
        "bounced_hard",
        "Permanent bounces: the address is suppressed. An email that bounced softly first counts here alone.",
    ),
    CountedOutcome(
        "bounced_soft",
        "Transient bounces of emails that bounced no other way: suppressed after a streak across campaigns.",
    ),
    CountedOutcome(
        "bounced_other",
        "Policy blocks (5.7.x, about the sender) and addresses on SES's suppression list, of emails that "
        "bounced no harder.",
    ),
    CountedOutcome("complained", "Emails the recipient marked as spam.", cloudwatch="Complaints"),
    CountedOutcome("rejected", "Emails SES refused after accepting them (a virus, say)."),
    CountedOutcome("unsubscribed", "Recipients who unsubscribed from this email."),
    CountedOutcome(
        "suppressed", "Emails whose outcome suppressed the address: hard bounces, complaints, SES's own list."
    ),
)
OUTCOME_KEYS = tuple(outcome.key for outcome in COUNTED_OUTCOMES)

# The figures one event counts for its email, by type; bounces are decided by their class below.
_KEYS_BY_TYPE: dict[str, tuple[str, ...]] = {
    Type.DELIVERY: ("delivered",),
    Type.REJECT: ("rejected",),
    Type.UNSUBSCRIBE: ("unsubscribed",),
    # A complaint suppresses the address at once.
    Type.COMPLAINT: ("complained", "suppressed"),
}
#: Event types that count for some outcome: what a recount reads.
COUNTED_EVENT_TYPES = (*_KEYS_BY_TYPE, Type.BOUNCE)

#: Complaint feedback types (a Complaint event's kind) that are no complaint: an ARF "not-spam"
#: report is the recipient telling their provider the mail is NOT spam (RFC 5965). SES signs and
#: sends it as a Complaint: it is kept on record, and counts, suppresses and alarms for nothing.
NOT_COMPLAINTS = frozenset({"not-spam"})


def complaint_counts(*, kind: str) -> bool:
    """Tell whether a Complaint event of this feedback type is a complaint (one without a type is)."""
    return kind not in NOT_COMPLAINTS


def complaints_q() -> Q:
    """Return the filter of the Complaint events that are complaints, as complaint_counts reads them."""
    return Q(type=Type.COMPLAINT) & ~Q(kind__in=NOT_COMPLAINTS)


def outcome_keys(*, event_type: str, kind: str = "") -> tuple[str, ...]:
    """Return what an event counts for its email: a bounce counts as bounced and by its class (one
    class per email, its most final: outcomes_reported).

    "suppressed" counts the emails whose outcome puts the address on the suppression list at once:
    a hard bounce, a complaint, or a bounce because SES's account list holds the address. (Soft
    bounces suppress only after a streak across campaigns, which no one email decides.) A
    complaint's kind is its feedback type: a "not-spam" one counts for nothing (complaint_counts).
    """
    if event_type == Type.COMPLAINT and not complaint_counts(kind=kind):
        return ()
    if event_type == Type.BOUNCE:
        keys = ("bounced", f"bounced_{kind}" if kind in (HARD, SOFT) else "bounced_other")
        return (*keys, "suppressed") if kind in (HARD, ACCOUNT_SUPPRESSED) else keys
    return _KEYS_BY_TYPE.get(event_type, ())


def bounces_q(*, hard: bool = False) -> Q:
    """Return the filter of the Bounce events that count their email as "bounced" (any of them),
    or with `hard` as "bounced_hard" (a hard one, the most final class), as outcome_keys counts."""
    return Q(type=Type.BOUNCE, kind=HARD) if hard else Q(type=Type.BOUNCE)


#: The classes a bounce counts under, most final first. An email counts under one alone, the most
#: final reported of it: its soft bounces were SES's retries on the way to the hard one (reported
#: in either order), so the classes add up to "bounced".
BOUNCE_CLASSES = ("bounced_hard", "bounced_other", "bounced_soft")


def outcomes_reported(*, outcomes: list[str], key: str) -> list[str]:
    """Return an email's counted outcomes once `key` is reported of it: each once, its bounce class
    the most final reported (BOUNCE_CLASSES)."""
    if key in outcomes:
        return outcomes
    if key in BOUNCE_CLASSES:
        held = [counted for counted in outcomes if counted in BOUNCE_CLASSES]
        if any(BOUNCE_CLASSES.index(counted) < BOUNCE_CLASSES.index(key) for counted in held):
            return outcomes
        outcomes = [counted for counted in outcomes if counted not in held]
    return [*outcomes, key]


def _rate(part: int, whole: int) -> float | None:
    # Exact: the guard and the alerts judge it against their limits, and a page rounds it once,
    # as it shows it (core's `percent`); rounded here, one complaint in 30,000 would read 0.0% and
    # a complaint rate just over its limit would pass it. The API writes 4 places.
    return part / whole if whole else None


@dataclass(frozen=True)
class Rate:
    """One rate: its name, its label in the report, and the counts it divides."""

    name: str
    label: str | Promise
    part: str
    whole: str
    #: What the denominator is, in a marketer's words.
    of: str | Promise


#: "bounce" is hard bounces over sent, as SES counts it for its account reviews and as the
#: reputation guard and the alerts judge it; soft bounces and blocks are apart in the counts.
RATES = (
    Rate("delivery", _("Delivery"), "delivered", "sent", of=_("sent")),
    Rate("bounce", _("Bounce (hard)"), "bounced_hard", "sent", of=_("sent")),
    Rate("complaint", _("Complaint"), "complained", "sent", of=_("sent")),
    Rate("open", _("Open (people)"), "opens_unique", "delivered", of=_("delivered")),
    Rate("click", _("Click (people)"), "clicks_unique", "delivered", of=_("delivered")),
    Rate("click_to_open", _("Click-to-open"), "clicks_unique", "opens_unique", of=_("opened")),
    Rate("unsubscribe", _("Unsubscribe"), "unsubscribed", "delivered", of=_("delivered")),
)


#: The counter of emails whose recipient showed they arrived before SES reported them delivered.
ARRIVED_UNREPORTED = "arrived_unreported"
#: What SES reports of an email that proves it arrived, as a person's open or click does.
OUTCOMES_PROVING_ARRIVAL = ("unsubscribed", "complained")


def arrived_unreported(*, opened: bool, outcomes: list[str]) -> bool:
    """Tell whether an email arrived by its recipient's own sign (opened or clicked, unsubscribed,
    complained) while SES has not reported it delivered (yet). A bounce reported after such a sign
    does not undo it: the email did arrive (a late, asynchronous bounce, or a block bounce whose
    Delivery is still queued), and SES itself counts both."""
    proven = opened or any(key in outcomes for key in OUTCOMES_PROVING_ARRIVAL)
    return proven and "delivered" not in outcomes


def counts_shown(counts: dict[str, int]) -> dict[str, int]:
    """Return counters as a marketer reads them: an email whose recipient opened it, clicked in it,
    unsubscribed from it or complained about it was delivered, whether or not SES's Delivery event
    has come, so no rate over delivered passes 100% while SES's events wait in their queue. When
    SES reported no delivery at all (no configuration set publishes them), "delivered" stays as
    reported and the rates are over sent (rates_base): the opened alone are not the delivered.
    SES's own figure is also kept as "delivered_reported"."""
    reported = counts.get("delivered", 0)
    arrived = counts.get(ARRIVED_UNREPORTED, 0) if reported else 0
    return {
        **counts,
        "delivered": reported + arrived,
        "delivered_reported": reported,
        "awaiting_report": awaiting_report(counts=counts),
    }


def awaiting_report(*, counts: dict[str, int]) -> int:
    """Return how many emails sent SES has reported nothing of yet, at least: sent less those it
    reported delivered, bounced or rejected. (An email both delivered and bounced is counted
    twice there, so the true number may be higher, never lower.) While it is above 0, rates over
    delivered move as SES's reports come."""
    reported = counts.get("delivered", 0) + counts.get("bounced", 0) + counts.get("rejected", 0)
    return max(counts.get("sent", 0) - reported, 0)


def rates_base(*, counts: dict[str, int]) -> str:
    """Return what the engagement rates are over: "delivered", or "sent" when SES reported nothing
    delivered although mail was sent (no configuration set publishes Delivery events; opens alone
    would make every open rate 100%)."""
    reported = counts.get("delivered_reported", counts.get("delivered"))
    return "sent" if not reported and counts.get("sent") else "delivered"


#: The rates over the emails that carried the open pixel alone: a text-only email (or one sent
#: with opens untracked) counts as opened only when clicked, so over it the open rate would be
#: the click rate and click-to-open 100%.
NEED_THE_OPEN_PIXEL = frozenset({"open", "click_to_open"})


#: The rates whose part is the delivered: unknown without Delivery events (rates_base "sent").
DELIVERED_PART = frozenset(rate.name for rate in RATES if rate.part == "delivered")


def campaign_rates(
    *, counts: dict[str, int], opened_over: dict[str, int] | None = None
) -> dict[str, float | None]:
    """Return every rate of a campaign (or any sum of counts) from its counts; None over nothing.

    The open and click-to-open rates are over `opened_over`, the counts of the emails that carried
    the open pixel (all of them when not given): None for a campaign none of whose emails did.
    Rates over delivered are over sent instead when rates_base says so: without Delivery events
    they would stay blank for ever. The delivery rate is then None, as delivered is: unknown, not
    none.
    """
    base = rates_base(counts=counts)
    unknown = DELIVERED_PART if base == "sent" else frozenset()

    def rate_of(rate: Rate) -> float | None:
        source = opened_over if opened_over is not None and rate.name in NEED_THE_OPEN_PIXEL else counts
        return _rate(
            source.get(rate.part, 0), source.get(base if rate.whole == "delivered" else rate.whole, 0)
        )

    return {rate.name: None if rate.name in unknown else rate_of(rate) for rate in RATES}
