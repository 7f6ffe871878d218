"""Templates: compiled once, rendered per contact in the sandbox with a private engine."""

import dataclasses
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template import Engine, TemplateSyntaxError
from django.template import Template as DjangoTemplate
from django.template.base import Lexer, TokenType
from django.utils.translation import gettext

from campaigns.exceptions import TemplateHtmlRefused, TemplateLimitExceeded, TemplateRenderError
from campaigns.models import Campaign, Contact, Template
from campaigns.render_filters import template_arguments_forgive, template_nodes_forgive
from campaigns.render_limits import BudgetContext, RenderBudget, template_measure, template_source_check
from campaigns.render_sandbox import Stopped, render_sandbox
from campaigns.render_values import attributes_shown
from campaigns.text_part import text_part_from_html
from campaigns.token_links import (
    sources_name_token,
    template_token_links_check,
    token_links_compare,
    trial_unsubscribe_urls,
)
from core.html import html_pixel_hindrance
from core.text import holds_lone_surrogate

# A private engine: templates written in the admin see only the context we hand them, never the
# project's template dirs or loaders, and a missing variable renders as an empty string.
# Its last builtin library, render_limits, replaces Django's filters with bounded ones.
_EMAIL_ENGINE = Engine(string_if_invalid="", autoescape=True, builtins=["campaigns.render_limits"])

# The engine has no template files, so these tags have nothing to load; refused with a clear message
# rather than left to fail inside Django (a relative path even crashes its compiler).
_LOADING_TAGS = re.compile(r"{%-?\s*(include|extends)\b")


#: A finishing step, run in the render child after the render: it gets the email and the
#: template's sources (subject, HTML, text) and returns the email it makes of them.
Finish = Callable[["RenderedEmail", tuple[str, str, str]], "RenderedEmail"]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class CompiledTemplate:
    """A template compiled once and rendered for many contacts, with the sources its renders use."""

    name: str
    subject: DjangoTemplate | None  # None for an empty subject, which the model forbids.
    html: DjangoTemplate | None
    text: DjangoTemplate | None
    sources: tuple[str, str, str]


@dataclass(frozen=True)
class _RenderJob:
    """One email's render, as sent to the sandbox: sources, plain data and the bounds."""

    name: str
    sources: tuple[str, str, str]
    context: dict
    max_chars: int
    max_seconds: float
    finish: Finish | None = None


@dataclass(frozen=True)
class _RenderFailed:
    """A render that failed in the child: plain data, as exceptions lose their attributes in a pipe."""

    message: str
    part: str  # The template field it failed in.
    limit: bool  # True when a bound stopped it (TemplateLimitExceeded), not the contact's data.
    #: A TemplateHtmlRefused's code and detail: HTML that could carry no open pixel that loads.
    refusal: tuple[str, str] | None = None

    def error(self) -> TemplateRenderError:
        return TemplateLimitExceeded(self.message) if self.limit else TemplateRenderError(self.message)


def template_compile(*, template: Template) -> CompiledTemplate:
    """Compile a template's parts, raising TemplateRenderError naming the broken part."""
    return _sources_compile(template.name, (template.subject, template.html_body, template.text_body))


def _sources_compile(name: str, sources: tuple[str, str, str]) -> CompiledTemplate:
    parts = []
    for part, source in zip(("subject", "html_body", "text_body"), sources, strict=True):
        loading = _LOADING_TAGS.search(source or "")
        if loading:
            tag = loading.group(1)
            said = gettext("{%% %(tag)s %%} has nothing to load: a template is one piece.") % {"tag": tag}
            raise TemplateRenderError(f"{part}: {said}")
        try:
            template_source_check(source or "")
            parts.append(
                template_nodes_forgive(
                    template_measure(template_arguments_forgive(_EMAIL_ENGINE.from_string(source)))
                )
                if source
                else None
            )
        except (TemplateSyntaxError, TemplateLimitExceeded) as exc:
            raise TemplateRenderError(f"{part}: {exc}") from exc
        except RecursionError as exc:  # Django's parser recurses a level a tag or operator.
            said = gettext("its tags or expressions nest too deeply to read")
            raise TemplateRenderError(f"{part}: {said}") from exc
        except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
            # A few of Django's tags read their arguments without checking them ({% filter %} with
            # none unpacks an empty list): the template is still the author's mistake, not ours.
            said = gettext("a tag could not be read (%(why)s)") % {"why": type(exc).__name__}
            raise TemplateRenderError(f"{part}: {said}") from exc
    subject, html, text = parts
    return CompiledTemplate(name=name, subject=subject, html=html, text=text, sources=sources)


def template_validate(*, template: Template) -> None:
    """Raise ValidationError on the field whose template syntax is broken."""
    if not template.html_body and not template.text_body:
        raise ValidationError(gettext("A template needs an HTML body, a text body, or both."))
    _sent_form_kept(template)
    try:
        compiled = template_compile(template=template)
    except TemplateRenderError as exc:
        field, _, message = str(exc).partition(": ")
        raise ValidationError({field: message}) from exc
    # A link made from the unsubscribe URL would be tracked (its token listed by the stats) or dead.
    template_token_links_check(html_body=template.html_body, text_body=template.text_body)
    # A trial render for a sample contact catches what no contact's data can make smaller.
    sample = Contact(email="ada@example.com", first_name="Ada", last_name="Lovelace", attributes={})
    # Whether its open pixel would load is judged in the child too, under the same limits: the
    # HTML parsers' costs grow with the rendered HTML, which a short template can make huge.
    pixel_check = _pixel_check if template.has_html else None
    (outcome,) = _render_in_sandbox(compiled, [template_context(contact=sample)], finish=pixel_check)
    if isinstance(outcome, _RenderFailed) and outcome.limit and not outcome.part:
        outcome = dataclasses.replace(outcome, part=_part_stopped(compiled, template_context(contact=sample)))
    _trial_judge(template, outcome)
    if isinstance(outcome, _RenderFailed) and pixel_check is not None:
        # The sample's data failed it (a filter on an attribute it lacks), so the check never ran:
        # its HTML is judged as written instead, its template tags left out (in the child too).
        max_seconds = settings.TEMPLATE_RENDER_MAX_SECONDS
        (written,) = render_sandbox().run(_written_check, [template.html_body], cpu_seconds=max_seconds)
        if isinstance(written, Stopped):
            written = _RenderFailed(f"{template.name}: {written.reason}", "html_body", limit=True)
        _trial_judge(template, written)
    if isinstance(outcome, RenderedEmail) and sources_name_token(*compiled.sources):
        _token_links_judge(compiled, sample, text_written=bool(template.text_body.strip()))
    # Other failures depend on each contact's data; sending reports them.


def _token_links_judge(compiled: CompiledTemplate, sample: Contact, *, text_written: bool) -> None:
    """Refuse a template whose links change with the unsubscribe URL other than by being it whole:
    rendered twice, with two tokens, to catch what the source hides (`{% with u=unsubscribe_url %}`)."""
    urls = trial_unsubscribe_urls()
    contexts = [{**template_context(contact=sample), "unsubscribe_url": url} for url in urls]
    first, second = _render_in_sandbox(compiled, contexts)
    if isinstance(first, RenderedEmail) and isinstance(second, RenderedEmail):
        token_links_compare(
            (first.html, first.text), (second.html, second.text), urls=urls, text_written=text_written
        )


def _part_stopped(compiled: CompiledTemplate, context: dict) -> str:
    """Name the part whose render alone the sandbox stops, each rendered apart (a stopped render
    says nothing of where it was); the HTML when none is stopped alone."""
    subject, _html, text = compiled.sources
    trials = (("subject", subject, (subject, "", "-")), ("text_body", text, ("-", "", text)))
    for part, own, sources in trials:
        if not own.strip():
            continue
        (outcome,) = _render_in_sandbox(_sources_compile(compiled.name, sources), [context])
        if isinstance(outcome, _RenderFailed) and outcome.limit:
            return part
    return "html_body"


def _written_check(source: str) -> RenderedEmail | _RenderFailed:
    """Judge an HTML body as written, as _pixel_check does a render: its text as Django's lexer
    splits it, every tag, variable and comment left out (in the sandbox's child)."""
    text = "".join(token.contents for token in Lexer(source).tokenize() if token.token_type == TokenType.TEXT)
    try:
        return _pixel_check(RenderedEmail(subject="-", html=text, text=""), ("-", source, ""))
    except TemplateHtmlRefused as exc:
        return _RenderFailed(str(exc), "html_body", limit=False, refusal=(exc.code, exc.detail))


def _trial_judge(template: Template, outcome: RenderedEmail | _RenderFailed) -> None:
    """Refuse a template whose trial render hit a bound or whose HTML could carry no pixel."""
    if isinstance(outcome, _RenderFailed) and outcome.limit:
        message = outcome.message.removeprefix(f"{template.name}: ")
        said = gettext("This template is too costly to send: %(why)s.")
        raise ValidationError({outcome.part: said % {"why": message}})
    if isinstance(outcome, _RenderFailed) and outcome.refusal:
        raise ValidationError({"html_body": _refusal_said(*outcome.refusal)})


def _pixel_check(rendered: RenderedEmail, sources: tuple[str, str, str]) -> RenderedEmail:
    """Finish a trial render (in the sandbox's child) by refusing HTML that could carry no open
    pixel where a reader's client loads it: such an email would count as carrying it
    (steps_showing_pixel). Raise TemplateHtmlRefused; return the email unchanged."""
    if not rendered.html.strip():
        raise TemplateHtmlRefused("blank")
    try:
        hindrance = html_pixel_hindrance(rendered.html)
    except ValueError as exc:  # Nothing after a DOCTYPE or comments: no pixel could go in.
        raise TemplateHtmlRefused("unreadable", str(exc)) from exc
    if hindrance == "not_loaded":
        # An element left open that swallows the rest (a <textarea>, a comment), a frameset: the
        # pixel would go where a reader's client shows it as text or not at all.
        raise TemplateHtmlRefused("no_pixel")
    if hindrance == "raw_shown":
        raise TemplateHtmlRefused("obsolete")
    if hindrance == "policy":
        raise TemplateHtmlRefused("policy")
    return rendered


def _refusal_said(code: str, detail: str) -> str:
    """Say a TemplateHtmlRefused in the reader's language (the child has none of its own)."""
    if code == "blank":
        return gettext(
            "This HTML shows nothing (rendered for a sample contact): leave it empty for a text-only "
            "email, or write what it shows."
        )
    if code == "obsolete":
        return gettext(
            "<plaintext> and <xmp> are obsolete: a reader's client shows what follows them as raw "
            "text, which no email can carry unchanged. Use <pre> instead."
        )
    if code == "policy":
        return gettext(
            "This HTML sets a Content-Security-Policy (a <meta http-equiv>), which may keep the open "
            "pixel from loading: remove it."
        )
    if code == "unreadable":
        said = gettext(
            "This HTML cannot be read whole (%(why)s), so no open pixel or tracked link can go in."
        )
        return said % {"why": detail}
    return gettext(
        "The open pixel would not load in this HTML: something in it (an element or a comment left "
        "open, a frameset) keeps what follows it from showing as a page. Close what you open."
    )


def _sent_form_kept(template: Template) -> None:
    """Refuse to turn a template a campaign has sent with HTML into text only, or one it sent as text
    into HTML: whether its emails carried the open pixel is what that campaign's open rates are
    over (campaigns.selectors.steps_showing_pixel), and they must keep describing what went out."""
    if template.pk is None:
        return
    stored = Template.objects.filter(pk=template.pk).values_list("html_body", flat=True).first()
    if stored is None or bool(stored.strip()) == template.has_html:
        return
    using = Campaign.objects.filter(steps__template_id=template.pk).order_by("pk")
    if transaction.get_connection().in_atomic_block:
        # Locked as scheduling locks them, until this change is saved: a campaign scheduled
        # meanwhile waits and is checked against the new form, or this change sees it scheduled.
        using = using.select_for_update(of=("self",))
    sent = next(
        (
            (name, status)
            for name, status in using.values_list("name", "status")
            if status != Campaign.Status.DRAFT
        ),
        None,
    )
    if sent is None:
        return
    if stored.strip():
        said = gettext(
            "Campaign “%(name)s” sent this template with HTML, and its open rate counts on that. For a "
            "text-only version, use “Save as new” under another name."
        )
    else:
        said = gettext(
            "Campaign “%(name)s” sent this template as text only, and its open rate counts on that. For a "
            "version with HTML, use “Save as new” under another name."
        )
    raise ValidationError({"html_body": said % {"name": sent[0]}})


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
        "attributes": attributes_shown(contact.attributes or {}),
    }


def template_render(
    *,
    compiled: CompiledTemplate,
    contact: Contact,
    extra: dict | None = None,
    finish: Finish | None = None,
) -> RenderedEmail:
    """Render subject, HTML and text for one contact; derive the text part from HTML if absent.

    `extra` adds variables of the email itself, such as `unsubscribe_url`. The render runs in the
    sandbox's child process; a render past a bound raises TemplateLimitExceeded. `finish`, a
    picklable function of the rendered email and the template's sources, runs there too, under the
    same limits (delivery's link tracking parses the HTML and reads the sources).
    """
    context = {**template_context(contact=contact), **(extra or {})}
    (outcome,) = _render_in_sandbox(compiled, [context], finish=finish)
    if isinstance(outcome, _RenderFailed):
        raise outcome.error()
    return outcome


def _render_in_sandbox(
    compiled: CompiledTemplate,
    contexts: list[dict],
    finish: Finish | None = None,
) -> list[RenderedEmail | _RenderFailed]:
    max_seconds = settings.TEMPLATE_RENDER_MAX_SECONDS
    jobs = [
        _RenderJob(
            compiled.name,
            compiled.sources,
            context,
            settings.TEMPLATE_MAX_OUTPUT_CHARS,
            max_seconds,
            finish,
        )
        for context in contexts
    ]
    outcomes = render_sandbox().run(_render_job, jobs, cpu_seconds=max_seconds)
    return [
        # The part is unknown: the kernel stopped the render wherever it was.
        _RenderFailed(f"{compiled.name}: {outcome.reason}", "", limit=True)
        if isinstance(outcome, Stopped)
        else outcome
        for outcome in outcomes
    ]


@functools.lru_cache(maxsize=32)
def _compiled_in_child(name: str, sources: tuple[str, str, str]) -> CompiledTemplate:
    return _sources_compile(name, sources)


def _render_job(job: _RenderJob) -> RenderedEmail | _RenderFailed:
    """Render one email in the sandbox's child; return the failure rather than raise it.

    The child has no language of its own: emails render (dates, numbers) the same whoever asks,
    and what stops a render there is said in the default language."""
    part = "subject"
    try:
        compiled = _compiled_in_child(job.name, job.sources)
        if compiled.subject is None:
            raise ValueError(gettext("the subject is empty"))
        with RenderBudget(max_chars=job.max_chars, max_seconds=job.max_seconds) as budget:
            # One budget per email: its three parts share the bounds. Subject and text are not
            # HTML: escaping would show "&amp;" to the reader.
            subject = compiled.subject.render(BudgetContext(job.context, autoescape=False, budget=budget))
            part = "html_body"
            html = compiled.html.render(BudgetContext(job.context, budget=budget)) if compiled.html else ""
            part = "text_body"
            if compiled.text:
                # Django marks what it renders safe HTML; unescaped text is not, so it is handed on
                # as a plain string, which any page that shows it escapes.
                text = str.__str__(
                    compiled.text.render(BudgetContext(job.context, autoescape=False, budget=budget))
                )
            else:
                text = text_part_from_html(html)
                budget.spend(len(text))
    except TemplateLimitExceeded as exc:
        return _RenderFailed(f"{job.name}: {exc}", part, limit=True)
    except MemoryError:
        raise  # The sandbox reports it.
    except Exception as exc:  # A template filter can raise anything; it fails this one email only.
        return _RenderFailed(f"{job.name}: {exc}", part, limit=False)
    for part, value in (("subject", subject), ("html_body", html), ("text_body", text)):
        # A lone surrogate ({{ 55296|stringformat:"c" }}, or a contact's data) is no character of
        # any encoding: lxml would cut the email at it, and the message could not be built.
        if holds_lone_surrogate(value):
            return _RenderFailed(
                f"{job.name}: it renders a lone surrogate, which is not text", part, limit=False
            )
    # A header must stay on one line, whatever a contact's data holds.
    rendered = RenderedEmail(subject=" ".join(subject.split()), html=html, text=text)
    if job.finish is None:
        return rendered
    try:
        finished = job.finish(rendered, job.sources)
    except MemoryError:
        raise
    except TemplateHtmlRefused as exc:
        return _RenderFailed(f"{job.name}: {exc}", "html_body", limit=False, refusal=(exc.code, exc.detail))
    except Exception as exc:  # The finishing step's own failure fails this one email only.
        return _RenderFailed(f"{job.name}: {exc}", "html_body", limit=False)
    # What the finishing step added (each tracked link grows) counts against the same bound.
    if (size := len(finished.subject) + len(finished.html) + len(finished.text)) > job.max_chars:
        message = (
            f"{job.name}: with its links tracked it is {size:,} characters; the limit is {job.max_chars:,}"
        )
        return _RenderFailed(message, "html_body", limit=True)
    return finished
