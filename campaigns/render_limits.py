"""Bounds on what one template render may produce and how long it may take.

Templates are written by people we trust to write marketing copy, not to run code: a filter such as
`ljust:100000000` or a few nested loops would otherwise take the memory or the CPU of the worker
that renders them. Three bounds apply to every render of the email engine:

- every filter's result and every size a filter is asked for (a width, a precision) stays within
  `TEMPLATE_MAX_OUTPUT_CHARS` (lists within MAX_LIST_ITEMS), checked before the filter builds
  anything large, and every string a filter makes counts against the render's total;
- the text produced so far, counted as each piece is rendered, stays within the same limit;
- the render stops once it has taken `TEMPLATE_RENDER_MAX_SECONDS` of CPU time, checked after
  every filter, piece and loop step.

These give a clear reason for the costs they foresee; the guarantee for every other is that the
render runs in a child process the kernel bounds (render_sandbox). This module is also the
engine's last builtin library: its filters replace Django's own, which also answer a contact's data
they cannot use rather than fail the email (render_filters).
"""

import functools
import re
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.template import Context, Library, Node, NodeList, TemplateSyntaxError, defaultfilters, defaulttags
from django.template import Template as DjangoTemplate
from django.template.base import Lexer, TextNode, TokenType
from django.template.defaulttags import ForNode, IfNode, LoremNode
from django.utils.formats import number_format
from django.utils.translation import gettext

from campaigns.exceptions import TemplateLimitExceeded
from campaigns.render_filters import filter_forgiving
from core.text import grouped

register = Library()


# The budget of the render running on this thread, which the filters charge: they get no context.
_current = threading.local()

#: The most items a filter may return as a list: each later filter walks every one of them.
MAX_LIST_ITEMS = 10_000


class RenderBudget:
    """What one render has used so far: characters produced and this thread's CPU time.

    Used as a context manager around the render: inside it, every filter charges what it made.
    """

    def __init__(self, *, max_chars: int, max_seconds: float) -> None:
        self.chars = 0
        self.max_chars = max_chars
        self.max_seconds = max_seconds
        # CPU time, not wall time: a render that waits for the GIL behind other threads is not slow.
        self.deadline = time.thread_time() + max_seconds

    def __enter__(self) -> "RenderBudget":
        self._outer = getattr(_current, "budget", None)
        _current.budget = self
        return self

    def __exit__(self, *exc: object) -> None:
        _current.budget = self._outer

    def spend(self, chars: int = 0) -> None:
        """Count produced characters; raise once either bound is passed."""
        self.chars += chars
        if self.chars > self.max_chars:
            raise TemplateLimitExceeded(
                gettext("it renders more than %(n)s characters") % {"n": grouped(self.max_chars)}
            )
        if time.thread_time() > self.deadline:
            raise TemplateLimitExceeded(
                gettext("it takes more than %(n)s s to render") % {"n": number_format(self.max_seconds)}
            )


class BudgetContext(Context):
    """A render's context, which charges its budget at every step of every loop."""

    def __init__(self, *args: Any, budget: RenderBudget, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget

    # {% for %} sets its loop variable (or, unpacking, updates the context) once per step.
    def __setitem__(self, key: Any, value: Any) -> None:
        self.budget.spend()
        super().__setitem__(key, value)

    def update(self, other_dict: Any) -> Any:
        self.budget.spend()
        return super().update(other_dict)

    # {% with %} pushes the values it has just computed: its filters' time is charged here.
    def push(self, *args: Any, **kwargs: Any) -> Any:
        self.budget.spend()
        return super().push(*args, **kwargs)


class _Measured(Node):
    """A leaf of a compiled template that charges the render's budget with what it produced."""

    child_nodelists = ()

    def __init__(self, inner: Node) -> None:
        self.inner = inner
        self.token, self.origin = inner.token, inner.origin

    def render_annotated(self, context: Context) -> Any:
        # django-stubs type Node.render_annotated as int | str; every node returns text.
        output = cast(str, self.inner.render_annotated(context))
        budget = getattr(context, "budget", None)
        if budget is not None:
            budget.spend(len(output))
        return output


def template_measure(compiled: DjangoTemplate) -> DjangoTemplate:
    """Make the leaves of a compiled template count their output against the render's budget."""
    _measure_nodelist(compiled.nodelist, in_loop=False)
    return compiled


#: The longest a template part (subject, HTML, text) may be, and the most pieces (words and
#: filters) its tags and variables may hold together: compiling happens in the process that saves
#: or sends, and costs 20-50 µs a piece. Gmail clips an email past 102 KB anyway.
MAX_SOURCE_CHARS = 500_000
MAX_TAG_PIECES = 10_000
#: The longest one tag or variable may be: Django reads some of its insides once per space or
#: quote in it (filter separators, quoted words), so one long tag costs the square of its length.
MAX_TAG_CHARS = 500


#: What a template's unclosed openers may cost Django's lexer, in characters read (about 0.1 s).
MAX_UNCLOSED_SCAN = 10_000_000
_DELIMITERS = (("{%", "%}"), ("{{", "}}"), ("{#", "#}"))


def _unclosed_scan(source: str) -> int:
    """Return the characters Django's lexer reads for openers with no closer after them on their line."""
    scan = 0
    for line in source.split("\n"):
        for opener, closer in _DELIMITERS:
            start = line.find(opener, max(line.rfind(closer), 0))
            while start != -1:
                scan += len(line) - start
                start = line.find(opener, start + 1)
    return scan


def template_source_check(source: str) -> None:
    """Refuse a template part too long, or with too many pieces of tags, to compile cheaply."""
    if len(source) > MAX_SOURCE_CHARS:
        said = gettext("it is %(n)s characters long; the limit is %(limit)s")
        raise TemplateLimitExceeded(said % {"n": grouped(len(source)), "limit": grouped(MAX_SOURCE_CHARS)})
    # Django's lexer reads a tag opened and never closed on its line to the line's end, once per
    # such opener: bounded first, so that the lexer below (and the compiler) stay cheap.
    if (scan := _unclosed_scan(source)) > MAX_UNCLOSED_SCAN:
        said = gettext("its unclosed {%% or {{ would take reading %(n)s characters; the limit is %(limit)s")
        raise TemplateLimitExceeded(said % {"n": grouped(scan), "limit": grouped(MAX_UNCLOSED_SCAN)})
    # Django's own lexer, so that what is counted is what its parser will read.
    kinds = (TokenType.VAR, TokenType.BLOCK)
    tags = [token.contents for token in Lexer(source).tokenize() if token.token_type in kinds]
    if (longest := max(map(len, tags), default=0)) > MAX_TAG_CHARS:
        said = gettext("one of its tags is %(n)s characters long; the limit is %(limit)s")
        raise TemplateLimitExceeded(said % {"n": grouped(longest), "limit": grouped(MAX_TAG_CHARS)})
    # Each word of a tag ({% firstof a b c %}, {% if a or b %}) and each filter is compiled apart.
    if (pieces := sum(len(tag.split()) + tag.count("|") for tag in tags)) > MAX_TAG_PIECES:
        said = gettext("its tags and variables hold %(n)s words and filters; the limit is %(limit)s")
        raise TemplateLimitExceeded(said % {"n": grouped(pieces), "limit": grouped(MAX_TAG_PIECES)})


#: The deepest tags may nest: rendering recurses a few calls a level, within Python's own limit.
MAX_NESTING = 50


def _measure_nodelist(nodelist: NodeList, *, in_loop: bool, depth: int = 0) -> None:
    if depth > MAX_NESTING:
        raise TemplateLimitExceeded(gettext("its tags nest more than %(n)d deep") % {"n": MAX_NESTING})
    for index, node in enumerate(nodelist):
        children: list[NodeList] = (
            [branch for _condition, branch in node.conditions_nodelists]
            if isinstance(node, IfNode)
            else [child for name in node.child_nodelists if (child := getattr(node, name, None)) is not None]
        )
        if children:
            for child in children:
                _measure_nodelist(child, in_loop=in_loop or isinstance(node, ForNode), depth=depth + 1)
        elif in_loop or not isinstance(node, TextNode):
            # Text outside any loop is bounded by the template's own size: not worth a charge.
            nodelist[index] = _Measured(node)


_WIDTHS = frozenset({"ljust", "rjust", "center", "floatformat"})

# Filters whose work grows faster than their input (Django's HTML truncation rebuilds its output at
# every tag; striptags parses up to 50 times): they take at most this much, as no clock can stop a
# filter that has started.
_SLOW_ON_LONG_INPUT = frozenset({"truncatewords_html", "truncatechars_html", "striptags", "wordwrap"})
SLOW_FILTER_MAX_INPUT = 100_000


def _max_chars() -> int:
    """Return the output limit of the render running on this thread (the setting outside one)."""
    budget = getattr(_current, "budget", None)
    return budget.max_chars if budget is not None else settings.TEMPLATE_MAX_OUTPUT_CHARS


def _width(arg: Any) -> int:
    """Read a width as Django's filters do, int() of the argument itself (a float, "3_000"); 0 if none."""
    for candidate in (arg, str(arg).strip().rstrip("gu")):  # floatformat's "2g", "-3u" suffixes
        try:
            return abs(int(candidate))
        except (ValueError, TypeError, OverflowError):
            continue
    return 0  # The filter refuses it itself.


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _size_asked(name: str, value: Any, arg: Any) -> int:
    """Return the size a filter is asked to build, before it builds it."""
    if name in _WIDTHS:
        return _width(arg)
    if name == "stringformat":  # %-format widths and precisions are plain digits.
        return max((int(number) for number in re.findall(r"\d+", str(arg))), default=0)
    if name == "join" and isinstance(value, list | tuple | str):
        return len(str(arg)) * len(value) + sum(len(str(item)) for item in value)
    if name in {"date", "time"}:  # Each format character can become some thirty ("r": a full date).
        return len(str(arg or "")) * _FORMAT_CHAR_WIDTH
    if name == "add":  # Strings and lists concatenate: a few nested {% with %} would double them.
        return _size(value) + _size(arg)
    return 0


# The longest text one date-format character may become (RFC 5322's "r" is 31 characters).
_FORMAT_CHAR_WIDTH = 32


def _bounded(name: str, func: Callable) -> Callable:
    sized = name in _WIDTHS or name in {"stringformat", "join", "add", "date", "time"}

    @functools.wraps(func)
    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        limit = _max_chars()
        if sized and (asked := _size_asked(name, value, args[0] if args else None)) > limit:
            said = gettext("|%(filter)s is asked for %(n)s characters; the limit is %(limit)s")
            raise TemplateLimitExceeded(said % {"filter": name, "n": grouped(asked), "limit": grouped(limit)})
        if name in _SLOW_ON_LONG_INPUT and isinstance(value, str) and len(value) > SLOW_FILTER_MAX_INPUT:
            said = gettext("|%(filter)s is given %(n)s characters; it takes at most %(limit)s")
            words = {"filter": name, "n": grouped(len(value)), "limit": grouped(SLOW_FILTER_MAX_INPUT)}
            raise TemplateLimitExceeded(said % words)
        if isinstance(value, list | tuple) and len(value) > MAX_LIST_ITEMS:
            said = gettext("|%(filter)s is given %(n)s items; the limit is %(limit)s")
            raise TemplateLimitExceeded(
                said % {"filter": name, "n": grouped(len(value)), "limit": grouped(MAX_LIST_ITEMS)}
            )
        lists = (value, args[0]) if name == "add" and args else ()
        if all(isinstance(side, list | tuple) for side in lists) and sum(map(len, lists)) > MAX_LIST_ITEMS:
            raise TemplateLimitExceeded(
                gettext("|add is asked for more than %(n)s items") % {"n": grouped(MAX_LIST_ITEMS)}
            )
        result = func(value, *args, **kwargs)
        if isinstance(result, list | tuple) and len(result) > MAX_LIST_ITEMS:
            said = gettext("|%(filter)s made %(n)s items; the limit is %(limit)s")
            raise TemplateLimitExceeded(
                said % {"filter": name, "n": grouped(len(result)), "limit": grouped(MAX_LIST_ITEMS)}
            )
        if _size(result) > limit:
            said = gettext("|%(filter)s made %(n)s characters; the limit is %(limit)s")
            raise TemplateLimitExceeded(
                said % {"filter": name, "n": grouped(_size(result)), "limit": grouped(limit)}
            )
        budget = getattr(_current, "budget", None)
        if budget is not None:  # Every value a filter makes counts, kept or not ({% regroup %}'s keys).
            budget.spend(len(result) if isinstance(result, str) else 0)
        return result

    return bounded


for _name, _func in defaultfilters.register.filters.items():
    register.filter(
        _name,
        _bounded(_name, filter_forgiving(_name, _func)),
        is_safe=getattr(_func, "is_safe", False),
        needs_autoescape=getattr(_func, "needs_autoescape", False),
        expects_localtime=getattr(_func, "expects_localtime", False),
    )


class _BoundedLorem(LoremNode):
    def render(self, context: Context) -> str:
        try:
            count = int(self.count.resolve(context))
        except (ValueError, TypeError):
            count = 1
        limit = _max_chars()
        if count > limit:
            said = gettext("{%% lorem %%} is asked for %(n)s items; the limit is %(limit)s")
            raise TemplateLimitExceeded(said % {"n": grouped(count), "limit": grouped(limit)})
        return super().render(context)


@register.tag
def lorem(parser: Any, token: Any) -> Node:
    """Compile Django's {% lorem %}, bounded by the output limit."""
    node = defaulttags.lorem(parser, token)
    node.__class__ = _BoundedLorem
    return node


# {% debug %} prints the whole context and every loaded module, {% url %} Campanile's own paths
# (the admin's among them), {% csrf_token %} a form field, {% querystring %} a web request's query
# (an email has no request): nothing an email should hold.
def _refused(name: str) -> Callable:
    def refuse(parser: Any, token: Any) -> Node:
        raise TemplateSyntaxError(gettext("{%% %(tag)s %%} has no place in an email") % {"tag": name})

    refuse.__doc__ = f"Refuse {{% {name} %}} in an email."
    return refuse


for _tag in ("debug", "url", "csrf_token", "querystring"):
    register.tag(_tag, _refused(_tag))


@register.tag
def now(parser: Any, token: Any) -> Node:
    """Compile Django's {% now %}, refusing a format that would render past the output limit."""
    node = defaulttags.now(parser, token)
    limit = settings.TEMPLATE_MAX_OUTPUT_CHARS
    if (asked := len(node.format_string) * _FORMAT_CHAR_WIDTH) > limit:
        said = gettext("{%% now %%}'s format could make %(n)s characters; the limit is %(limit)s")
        raise TemplateSyntaxError(said % {"n": grouped(asked), "limit": grouped(limit)})
    return node


# pprint formats a whole nested structure at every level of its nesting: a debugging aid, with no
# place in an email, and its cost grows with depth times size.
@register.filter(name="pprint")
def pprint_refused(value: Any) -> str:
    """Refuse |pprint in an email."""
    raise TemplateLimitExceeded(gettext("|pprint has no place in an email"))


# urlize makes a link of every address in a value, a contact's data included: tracked, that link
# would let anyone on a list make the sender's domain redirect to a site of their choosing.
def _link_maker_refused(name: str) -> Callable:
    def refuse(value: Any, arg: Any = None) -> str:
        said = gettext("|%(filter)s has no place in an email: write the link as <a href>")
        raise TemplateLimitExceeded(said % {"filter": name})

    refuse.__doc__ = f"Refuse |{name} in an email."
    return refuse


for _filter in ("urlize", "urlizetrunc"):
    register.filter(_filter, _link_maker_refused(_filter))
