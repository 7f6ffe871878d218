"""What the email engine's filters and tags make of data they cannot use: never a failed email.

A contact's attributes are JSON of any shape (text, numbers, booleans, null, lists, objects), and the
trial render at save has a sample contact with none: a filter that raises on one contact's data passes
that check, then fails every email of every contact who holds such data. Django's filters answer some
values they cannot use with "" or the value unchanged, and raise on others (`|date:"r"` on text,
`|ljust:""`, `|first` on a number). Each of the engine's filters gives Django's answer instead, and its
date filters also read the ISO 8601 text an integrator stores for a date. Tags do the same: one that
cannot use a contact's data (`{% for %}` over a number, pairs unpacked from what holds none,
`{% widthratio %}` of a missing width, a number too long to write) renders nothing.
"""

import datetime
import functools
import inspect
from collections.abc import Callable
from typing import Any

from django.template import Template as DjangoTemplate
from django.template import TemplateSyntaxError
from django.template.base import FilterExpression, Node, NodeList, Variable, VariableDoesNotExist
from django.template.defaulttags import IfNode
from django.template.smartif import TokenBase
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from campaigns.render_values import attributes_shown

#: Filters that format a date, a date-time or (for |time) a time.
DATE_FILTERS = frozenset({"date", "time", "timesince", "timeuntil"})
# Their argument is a date too: the moment compared with.
_DATED_ARGUMENT = frozenset({"timesince", "timeuntil"})

# Filters that reshape their value (pad, cut, truncate, wrap, slice or join it) give it back unchanged
# when they cannot use it or their argument, as Django's |join, |slice, |get_digit, |truncatechars,
# |yesno and |floatformat do; the others give "", as Django's |date, |first, |dictsort and |pluralize
# do. Filters that escape or encode (|escapeseq, |urlencode) give "", never the value to make safe.
_KEEP_VALUE = frozenset(
    {
        "center",
        "cut",
        "floatformat",
        "get_digit",
        "join",
        "ljust",
        "phone2numeric",
        "rjust",
        "safeseq",
        "slice",
        "truncatechars",
        "truncatechars_html",
        "truncatewords",
        "truncatewords_html",
        "wordwrap",
        "yesno",
    }
)

# What Django's filters raise on a value or an argument of a type or content they cannot use.
_UNUSABLE = (TypeError, ValueError, AttributeError, LookupError, ArithmeticError)


def filter_forgiving(name: str, func: Callable) -> Callable:
    """Wrap a builtin filter to give Django's answer, "" or the value unchanged, where it would raise,
    and to write a list or an object it makes as JSON."""

    @functools.wraps(func)
    def forgiving(value: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            if name in DATE_FILTERS:
                read = _dates_read(name, value, args)
                if read is None:  # Django would fail, or show a format's literal characters.
                    return ""
                value, args = read
            result = func(value, *args, **kwargs)
        except _UNUSABLE:
            return value if name in _KEEP_VALUE else ""
        # Slicing or adding a contact's lists, sorting them (|dictsort) or listing a text (|make_list)
        # gives a plain list, which Python would spell ['vip']: written as JSON, as the lists it came
        # from (render_values). Every Django filter the engine keeps passes here, before it is bounded.
        return attributes_shown(result)

    # Django checks the arguments a template passes against the filter's signature, and counts an
    # autoescape parameter as one: |linebreaks:"x" would compile, then fail every render. Checked
    # against this signature instead, where autoescape is a keyword only Django itself passes.
    del forgiving.__wrapped__
    forgiving.__signature__ = _template_signature(func)  # type: ignore[attr-defined]
    return forgiving


def _template_signature(func: Callable) -> inspect.Signature:
    """Return a filter's signature with autoescape, which Django passes by keyword, made keyword-only."""
    signature = inspect.signature(func)
    parameters = [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        if parameter.name == "autoescape"
        else parameter
        for parameter in signature.parameters.values()
    ]
    return signature.replace(parameters=parameters)


def _dates_read(name: str, value: Any, args: tuple) -> tuple[Any, tuple] | None:
    """Return a date filter's value and arguments with ISO 8601 text read; None if one is no date."""
    if name not in _DATED_ARGUMENT:  # The argument of |date and |time is a format.
        value = _dated(value)
        return (value, args) if _is_dated(value) else None
    # The moment compared with, when given (None or "": now), is a date too. A date counts as its
    # first moment, so that it meets a date-time: Django would find them not comparable.
    value, args = _moment(_dated(value)), tuple(_moment(_dated(arg)) if arg else arg for arg in args)
    return (value, args) if all(_is_dated(each) for each in (value, *args) if each) else None


def _is_dated(value: Any) -> bool:
    return isinstance(value, datetime.date | datetime.time)


def _moment(value: Any) -> Any:
    """Return a date as its first moment in the project's time zone; any other value as it is."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        first = datetime.datetime.combine(value, datetime.time.min)
        return timezone.make_aware(first, timezone.get_default_timezone())
    return value


def _dated(value: Any) -> Any:
    """Return the date or date-time an ISO 8601 text stands for, a naive one in the project's time zone
    and shown in the current one, as Django shows a date-time field; any other value as it is."""
    if not isinstance(value, str):
        return value
    # A date alone stays a date: it has no time of day to show, nor a time zone to move it across.
    parsed = parse_date(value) or parse_datetime(value)  # ValueError for a day that does not exist.
    if not isinstance(parsed, datetime.datetime):
        return parsed if parsed is not None else value
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return timezone.localtime(parsed)


class _ForgivingArgument(Variable):
    """A filter's argument naming data: where a contact lacks it, it is "", as a missing value is."""

    def resolve(self, context: Any) -> Any:
        try:
            return super().resolve(context)
        except VariableDoesNotExist:
            # Django raises here (a missing value it forgives): `|default:attributes.nickname` would
            # fail the email of every contact without a nickname, with their data in the error.
            return ""


def template_arguments_forgive(template: DjangoTemplate) -> DjangoTemplate:
    """Make every filter argument of a compiled template that names data resolve to "" when missing."""
    for node in template.nodelist.get_nodes_by_type(Node):
        for expression in _expressions_in(list(vars(node).values())):
            expression.filters = [
                (func, [(lookup, _ForgivingArgument(arg.var) if lookup else arg) for lookup, arg in args])
                for func, args in expression.filters
            ]
    return template


def _expressions_in(values: list) -> list[FilterExpression]:
    """Return the filter expressions a node's attributes hold: in lists, mappings and conditions,
    not in its nodelists (their nodes are read on their own)."""
    found: list[FilterExpression] = []
    while values:
        value = values.pop()
        if isinstance(value, FilterExpression):
            found.append(value)
        elif isinstance(value, NodeList):
            continue
        elif isinstance(value, list | tuple):
            values.extend(value)
        elif isinstance(value, dict):
            values.extend(value.values())
        elif isinstance(value, TokenBase):  # An {% if %} condition: operators and their operands.
            values.extend(vars(value).values())
    return found


class _Forgiven(Node):
    """A node of a compiled template that renders nothing where its contact's data is of no use to it."""

    child_nodelists = ()

    def __init__(self, inner: Node) -> None:
        self.inner = inner
        self.token, self.origin = inner.token, inner.origin

    def render_annotated(self, context: Any) -> Any:
        try:
            return self.inner.render_annotated(context)
        except (*_UNUSABLE, TemplateSyntaxError):
            # Django's tags raise on data they cannot use (`{% for %}` over a number, an integer
            # past Python's 4,300 digits written out; `{% widthratio %}` says a missing width is a
            # syntax error): the innermost node that did gives nothing.
            return ""


def template_nodes_forgive(template: DjangoTemplate) -> DjangoTemplate:
    """Make every node of a compiled template render nothing, not fail, on data it cannot use.

    Run after the engine's limits wrap its leaves (render_limits.template_measure): their errors
    are no data's, and stay."""
    _nodelist_forgive(template.nodelist)
    return template


def _nodelist_forgive(nodelist: NodeList) -> None:
    pending = [nodelist]
    while pending:  # Level by level: the nesting is bounded by the limits, not by Python's stack.
        current = pending.pop()
        for index, node in enumerate(current):
            if isinstance(node, IfNode):
                pending.extend(branch for _condition, branch in node.conditions_nodelists)
            else:
                pending.extend(
                    child for name in node.child_nodelists if (child := getattr(node, name, None)) is not None
                )
            current[index] = _Forgiven(node)
