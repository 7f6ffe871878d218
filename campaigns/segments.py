"""Segments: a definition's rules checked, then turned into one SQL condition over the contacts.

A definition is {"match": "all" | "any", "rules": [rule, ...]}, where a rule is one of:

- {"field": name, "op": op, "value": value}: a contact field (email, first_name, last_name,
  external_id, timezone, status, created_at, unsubscribed_at) or an attribute
  ("attributes.<key>"), compared by eq, neq, contains, not_contains, starts_with, gt, gte, lt,
  lte (numbers, or ISO dates), before, after (ISO dates), within_days (a number of days), is_set
  or is_not_set (no value);
- {"list": id, "op": "in" | "not_in"}: membership of a list;
- {"engagement": kind, ...}: what a contact did with campaign mail; its kinds come from the app
  that keeps engagement (delivery registers them: segment_rule_kind_register), so this module
  needs none of it;
- a nested group {"match": ..., "rules": [...]}, at most MAX_DEPTH deep.
"""

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    DecimalField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IExact,
    IsNull,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
    Regex,
)
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.exceptions import NamedBySegment, SegmentInUse
from campaigns.mailable import contacts_mailable
from campaigns.models import Campaign, Contact, ContactList, ListMembership, Segment
from core.db import without_jit
from core.text import holds_lone_surrogate, text_as_json

MAX_DEPTH = 3
MAX_RULES = 50
#: Rules of the kinds other apps register (engagement), which read far more than a contact's row.
MAX_KIND_RULES = 10
#: Contacts the editor and the API show of a segment.
SAMPLE_SIZE = 10
TEXT_FIELDS = ("email", "first_name", "last_name", "external_id", "timezone", "status")
DATE_FIELDS = ("created_at", "unsubscribed_at")
ATTRIBUTE_PREFIX = "attributes."
TEXT_OPS = ("eq", "neq", "contains", "not_contains", "starts_with", "is_set", "is_not_set")
NUMBER_OPS = ("gt", "gte", "lt", "lte")
#: A status is a choice (subscribed, unsubscribed), not text to search.
STATUS_OPS = ("eq", "neq")
DATE_OPS = ("before", "after", "within_days", "is_set", "is_not_set")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Digits before the point a number may have to be compared (numeric(40, 18) in SQL).
_NUMBER_DIGITS = 21

#: Rule kinds beyond fields, lists and groups, by their key ("engagement"): (check, condition),
#: each registered by the app that keeps the data (segment_rule_kind_register).
_RULE_KINDS: dict[str, tuple[Callable[[dict], None], Callable[[dict], Q]]] = {}


def segment_rule_kind_register(
    key: str, *, check: Callable[[dict], None], condition: Callable[[dict], Q]
) -> None:
    """Let segments read rules keyed `key`: check(rule) raises ValidationError for a rule it cannot
    read, condition(rule) returns its Q over Contact. Called by an app above this one at start-up,
    as signals are connected, so this module needs none of that app's code."""
    _RULE_KINDS[key] = (check, condition)


def _problem(message: str, **words) -> ValidationError:
    return ValidationError(message % words if words else message)


def segment_definition_check(definition) -> None:
    """Raise ValidationError, saying which rule and why, unless definition is one this module reads."""
    _group_check(definition, depth=1)
    if _rules_counted(definition) > MAX_RULES:
        raise _problem(gettext("A segment holds at most %(n)d rules in all."), n=MAX_RULES)
    if _rules_counted(definition, kinds=tuple(_RULE_KINDS)) > MAX_KIND_RULES:
        # Each reads the ledger or the engagement of every contact: bound the work of one count.
        said = gettext("A segment holds at most %(n)d rules on what contacts did with campaign mail.")
        raise _problem(said, n=MAX_KIND_RULES)


def _rules_counted(group: dict, kinds: tuple[str, ...] = ()) -> int:
    """Count a checked group's rules, or only those of these kinds (engagement, say)."""
    return sum(not kinds or any(kind in rule for kind in kinds) for rule in _rules_named(group))


def _rules_named(group) -> Iterator[dict]:
    """Yield the rules of a group and of the groups nested in it."""
    for rule in group.get("rules", []) if isinstance(group, dict) else []:
        if isinstance(rule, dict):
            yield from _rules_named(rule) if "rules" in rule else (rule,)


def _group_check(definition, *, depth: int, path: str = "") -> None:
    where = gettext("Group %(path)s: ") % {"path": path} if path else ""
    if not isinstance(definition, dict) or definition.get("match") not in ("all", "any"):
        raise _problem(where + gettext('A group needs "match": "all" or "any", and its "rules".'))
    if unknown := sorted(set(definition) - {"match", "rules"}, key=str):
        raise _problem(
            where + gettext("A group holds only match and rules, not %(keys)s."), keys=_listed(unknown)
        )
    rules = definition.get("rules")
    if not isinstance(rules, list) or not rules:
        raise _problem(where + gettext("A group needs at least one rule."))
    if len(rules) > MAX_RULES:
        raise _problem(where + gettext("A group holds at most %(n)d rules."), n=MAX_RULES)
    for index, rule in enumerate(rules, start=1):
        here = f"{path}.{index}" if path else str(index)
        if isinstance(rule, dict) and "rules" in rule:
            if depth >= MAX_DEPTH:
                raise _problem(
                    gettext("Group %(path)s: groups nest at most %(n)d deep."), path=here, n=MAX_DEPTH
                )
            _group_check(rule, depth=depth + 1, path=here)
            continue
        try:
            _rule_check(rule)
        except ValidationError as exc:
            said = gettext("Rule %(path)s: %(problem)s")
            raise ValidationError(said % {"path": here, "problem": " ".join(exc.messages)}) from exc


def _rule_check(rule) -> None:
    if not isinstance(rule, dict):
        raise _problem(gettext("Each rule is an object."))
    if "field" in rule:
        _keys_check(rule, {"field", "op", "value"})
        _field_rule_check(rule)
    elif "list" in rule:
        _keys_check(rule, {"list", "op"})
        _list_rule_check(rule)
    else:
        kind = next((key for key in _RULE_KINDS if key in rule), None)
        if kind is None:
            raise _problem(gettext("A rule names a field, a list, a kind of engagement or a group."))
        _RULE_KINDS[kind][0](rule)


def _listed(keys) -> str:
    return ", ".join(sorted(map(str, keys)))


def _keys_check(rule: dict, known: set[str]) -> None:
    if unknown := sorted(set(rule) - known, key=str):
        raise _problem(
            gettext("This rule takes only %(known)s, not %(keys)s."),
            known=_listed(known),
            keys=_listed(unknown),
        )


def _text_problem(value, *, most: int) -> str:
    """Say what is wrong with a text a rule holds, or return ""."""
    if not isinstance(value, str):
        return gettext("Compare with text.")
    if "\x00" in value or holds_lone_surrogate(value):
        return gettext("The text holds a NUL or an unpaired surrogate character.")
    if len(value) > most:
        return gettext("The text is longer than %(n)s characters.") % {"n": most}
    return ""


def _field_rule_check(rule: dict) -> None:
    field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
    if not isinstance(field, str) or not (
        field in TEXT_FIELDS or field in DATE_FIELDS or field.startswith(ATTRIBUTE_PREFIX)
    ):
        raise _problem(gettext("%(field)s is not a field a segment can look at."), field=text_as_json(field))
    if field.startswith(ATTRIBUTE_PREFIX):
        key = field.removeprefix(ATTRIBUTE_PREFIX)
        problem = _text_problem(key, most=200) if key else gettext("none given.")
        if problem:
            raise _problem(gettext("An attribute's name: %(problem)s"), problem=problem)
    ops = (
        DATE_OPS
        if field in DATE_FIELDS
        else STATUS_OPS
        if field == "status"
        else TEXT_OPS
        if field in TEXT_FIELDS
        else (*TEXT_OPS, *NUMBER_OPS, *DATE_OPS)
    )
    if op not in ops:
        raise _problem(gettext("%(field)s cannot be compared by %(op)s."), field=field, op=text_as_json(op))
    if op in ("is_set", "is_not_set") and "value" in rule:
        raise _problem(gettext("A rule on whether a field has a value takes no value."))
    if field == "status" and value not in Contact.Status.values:
        said = gettext("A status is one of: %(values)s.")
        raise _problem(said, values=", ".join(Contact.Status.values))
    if op in ("is_set", "is_not_set"):
        return
    if op == "within_days":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 36500:
            raise _problem(gettext("Within how many days: a whole number from 1 to 36500."))
    elif op in ("before", "after"):
        if _date(value) is None:
            raise _problem(
                gettext("%(value)s is not a date like 2026-03-01 (before the year 9999)."),
                value=text_as_json(value),
            )
    elif op in NUMBER_OPS:
        if _number(value) is None:
            raise _problem(
                gettext("%(value)s is not a number (of at most 21 digits before the point and 18 after)."),
                value=text_as_json(value),
            )
    elif problem := _text_problem(value, most=1000):
        raise _problem(problem)
    elif not value and op in ("contains", "not_contains", "starts_with"):
        # Every text contains and starts with nothing: such a rule would match everyone.
        raise _problem(gettext("Give the text to look for."))


def _list_rule_check(rule: dict) -> None:
    if rule.get("op") not in ("in", "not_in"):
        raise _problem(gettext('A list rule says "in" or "not_in".'))
    list_id = rule.get("list")
    if (
        isinstance(list_id, bool)
        or not isinstance(list_id, int)
        or not ContactList.objects.filter(pk=list_id).exists()
    ):
        raise _problem(gettext("No list %(id)s."), id=text_as_json(list_id))


def _date(value) -> date | None:
    """Return the day an ISO date (2026-03-01) names, before the year 9999 (whose last day has no
    day after it), or None."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if day.year < 9999 else None


def _number(value) -> Decimal | None:
    """Return the number a rule compares with (an int, a float or digits as text), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    # At most 21 digits before the point and 18 after (numeric(40, 18)): a value past either
    # would be rounded or overflow in SQL.
    fits = (
        number.is_finite() and number.adjusted() < _NUMBER_DIGITS and (not number or number.adjusted() >= -18)
    )
    return number if fits else None


def _checked_date(value: str) -> date:
    """Return the date of a rule segment_definition_check passed."""
    day = _date(value)
    if day is None:
        raise ValueError(f"{value!r} is not a date: check the definition first.")
    return day


def segment_condition(definition: dict) -> Q:
    """Return the SQL condition over Contact of a checked definition."""
    conditions = [_rule_condition(rule) for rule in definition["rules"]]
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition if definition["match"] == "all" else combined | condition
    return combined


def _rule_condition(rule: dict) -> Q:
    if "rules" in rule:
        return segment_condition(rule)
    if "field" in rule:
        return _field_condition(rule)
    if "list" in rule:
        member = Exists(ListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id=rule["list"]))
        # A list gone since the rule was saved matches no one: "not on" it would be everyone.
        listed = Exists(ContactList.objects.filter(pk=rule["list"]))
        return (Q(member) if rule["op"] == "in" else ~Q(member)) & Q(listed)
    kind = next(key for key in _RULE_KINDS if key in rule)
    return _RULE_KINDS[kind][1](rule)


def _field_condition(rule: dict) -> Q:
    field, op, value = rule["field"], rule["op"], rule.get("value")
    if field.startswith(ATTRIBUTE_PREFIX):
        return _attribute_condition(field.removeprefix(ATTRIBUTE_PREFIX), op, value)
    if field in DATE_FIELDS:
        return _date_condition(field, op, value)
    text = {
        "eq": Q(**{f"{field}__iexact": value}),
        "neq": ~Q(**{f"{field}__iexact": value}),
        "contains": Q(**{f"{field}__icontains": value}),
        "not_contains": ~Q(**{f"{field}__icontains": value}),
        "starts_with": Q(**{f"{field}__istartswith": value}),
        "is_set": ~Q(**{field: ""}),
        "is_not_set": Q(**{field: ""}),
    }
    return text[op]


def _date_condition(field: str, op: str, value) -> Q:
    if op == "is_set":
        return Q(**{f"{field}__isnull": False})
    if op == "is_not_set":
        return Q(**{f"{field}__isnull": True})
    if op == "within_days":
        return Q(**{f"{field}__gte": timezone.now() - timedelta(days=value)})
    day = _checked_date(value)
    # "after 2026-03-01" starts the next day: the whole named day is neither before nor after.
    moment = timezone.make_aware(
        datetime.combine(day if op == "before" else day + timedelta(days=1), time.min)
    )
    return Q(**{f"{field}__lt" if op == "before" else f"{field}__gte": moment})


class AttributeText(Func):
    """An attribute's value as text (`attributes ->> 'key'`), null when absent. Unlike Django's
    KeyTextTransform, a key of digits ("0") is a key, never an array index."""

    arg_joiner = " ->> "
    template = "(%(expressions)s)"
    output_field = TextField()

    def __init__(self, key: str):
        super().__init__(F("attributes"), Value(key, output_field=TextField()))


def _attribute_condition(key: str, op: str, value) -> Q:
    text = AttributeText(key)
    # Set means a value: an attribute held as null or "" is not set, as an empty field is not.
    is_set = ~Q(IsNull(text, True)) & ~Q(Exact(text, ""))
    if op == "is_set":
        return is_set
    if op == "is_not_set":
        return ~is_set
    if op in NUMBER_OPS:
        # Only values that read as numbers are compared: "n/a" is neither above nor below 10.
        number = Case(
            When(
                Regex(text, r"^-?[0-9]{1,21}(\.[0-9]+)?$"),
                then=Cast(text, DecimalField(max_digits=40, decimal_places=18)),
            ),
            default=None,
        )
        return Q(_LOOKUPS[op](number, _number(value)))
    # Dates are compared as ISO text, so only values that read as ISO dates are: "pro" is neither
    # before nor after a day, as "n/a" is neither above nor below a number.
    a_date = Q(Regex(text, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"))
    if op == "within_days":
        # The last N days up to today: a date ahead (a renewal next year) is not within them.
        today = timezone.now().date()
        since = (today - timedelta(days=value)).isoformat()
        until = (today + timedelta(days=1)).isoformat()
        return a_date & Q(GreaterThanOrEqual(text, since)) & Q(LessThan(text, until))
    if op in ("before", "after"):
        day = _checked_date(value)
        if op == "before":
            return a_date & Q(LessThan(text, day.isoformat()))
        return a_date & Q(GreaterThanOrEqual(text, (day + timedelta(days=1)).isoformat()))
    matched = Q(_LOOKUPS[op](text, str(value)))
    # A contact without the attribute (or with null) neither equals nor contains the value: "neq"
    # holds for them, where SQL's NOT over a NULL would leave them out.
    return ~matched | Q(IsNull(text, True)) if op in ("neq", "not_contains") else matched


#: Each comparison as the lookup it is on an expression (written on the outer query, so the
#: database reads each contact's attributes once, with no subquery of ids per rule).
_LOOKUPS = {
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
    "eq": IExact,
    "neq": IExact,
    "contains": IContains,
    "not_contains": IContains,
    "starts_with": IStartsWith,
}


def segment_audience_condition(definition: dict) -> Q:
    """Return who a checked definition holds, as a condition over Contact: load tests' contacts
    are in no segment (as on no list a marketer mails), whatever the rules say."""
    return segment_condition(definition) & Q(is_load_test=False)


def segment_contacts(definition: dict) -> QuerySet[Contact]:
    """Return the contacts a checked definition holds, whatever their status."""
    return Contact.objects.filter(segment_audience_condition(definition))


def segment_summary(definition: dict, *, sample: int = SAMPLE_SIZE) -> dict:
    """Return who a checked definition holds: how many contacts, how many of them a campaign may
    mail (campaigns.mailable), and the first few of those, for the editor and the API."""
    contacts = segment_contacts(definition)
    mailable = contacts_mailable(contacts)
    with without_jit():
        return {
            "contacts": contacts.count(),
            "mailable": mailable.count(),
            "sample": list(mailable.order_by("pk")[:sample]),
        }


#: The statuses of a campaign that may still mail: its segments stay while it has one of them.
UNFINISHED = (
    Campaign.Status.DRAFT,
    Campaign.Status.SCHEDULED,
    Campaign.Status.SENDING,
    Campaign.Status.PAUSED,
)


def segment_in_use(*, segment: Segment) -> list[str]:
    """Return the names of the first campaigns not yet finished that mail the segment."""
    return list(
        segment.campaigns.filter(status__in=UNFINISHED).order_by("name").values_list("name", flat=True)[:5]
    )


def segment_references(definition) -> tuple[set[int], set[int]]:
    """Return the ids of the lists and of the campaigns a definition's rules name."""
    rules = list(_rules_named(definition))
    lists = {rule["list"] for rule in rules if type(rule.get("list")) is int}  # Not a bool.
    named = [r["campaigns"] for r in rules if "engagement" in r and isinstance(r.get("campaigns"), list)]
    return lists, {pk for pks in named for pk in pks if type(pk) is int}


def segments_naming(*, list_ids=(), campaign_ids=()) -> list[str]:
    """Return the names of the segments whose rules name one of these lists or campaigns."""
    lists, campaigns = set(list_ids), set(campaign_ids)
    if not lists and not campaigns:
        return []
    return [
        name
        for name, definition in Segment.objects.values_list("name", "definition")
        if (named := segment_references(definition)) and (lists & named[0] or campaigns & named[1])
    ]


def campaigns_narrowing(*, list_ids) -> list[str]:
    """Return the names of the unfinished campaigns that mail these lists narrowed by segments:
    without the lists, they would mail everyone in their segments."""
    narrowing = Campaign.objects.filter(
        lists__in=list(list_ids), status__in=UNFINISHED, segments__isnull=False
    )
    return list(narrowing.order_by("name").values_list("name", flat=True).distinct()[:5])


def segment_names_refused(*, list_ids=(), campaign_ids=()) -> None:
    """Raise NamedBySegment, naming the segments, if a segment's rules name these lists or campaigns."""
    naming = segments_naming(list_ids=list_ids, campaign_ids=campaign_ids)
    if naming:
        said = gettext("Segments name it in their rules: %(names)s. Change those rules first.")
        raise NamedBySegment(said % {"names": ", ".join(naming[:5])})
    if narrowing := campaigns_narrowing(list_ids=list_ids):
        said = gettext(
            "Campaigns not finished narrow it with segments: %(names)s. Without it they would mail "
            "everyone in their segments: take it off them first."
        )
        raise NamedBySegment(said % {"names": ", ".join(narrowing)})


def segment_delete(*, segment: Segment) -> None:
    """Delete a segment, unless a campaign not yet finished mails it (its audience would change
    under it: a drip's later steps would lose everyone): raise SegmentInUse naming them."""
    users = segment_in_use(segment=segment)
    if users:
        said = gettext("Campaigns not finished mail this segment: %(names)s. Take it off them first.")
        raise SegmentInUse(said % {"names": ", ".join(users)})
    segment.delete()
