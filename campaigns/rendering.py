"""Templates: compiled once, rendered per contact with a private engine, a text part from the HTML."""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.template import Engine, TemplateSyntaxError
from django.template import Template as DjangoTemplate
from inscriptis import get_text
from inscriptis.model.config import ParserConfig

from campaigns.exceptions import TemplateLimitExceeded, TemplateRenderError
from campaigns.models import (
    Contact,
    Template,
)
from campaigns.render_limits import BudgetContext, RenderBudget, template_measure

# A private engine: templates written in the admin see only the context we hand them, never the
# project's template dirs or loaders, and a missing variable renders as an empty string.
# Its last builtin library, render_limits, replaces Django's filters with bounded ones.
_EMAIL_ENGINE = Engine(string_if_invalid="", autoescape=True, builtins=["campaigns.render_limits"])

# The engine has no template files, so these tags have nothing to load; refused with a clear message
# rather than left to fail inside Django (a relative path even crashes its compiler).
_LOADING_TAGS = re.compile(r"{%-?\s*(include|extends)\b")

# A text part made from HTML keeps each link's address, as "[text](address)": a reader of the text
# part must be able to follow it.
_TEXT_CONFIG = ParserConfig(display_links=True)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class CompiledTemplate:
    """A template compiled once and rendered for many contacts."""

    name: str
    subject: DjangoTemplate | None  # None for an empty subject, which the model forbids.
    html: DjangoTemplate | None
    text: DjangoTemplate | None


def template_compile(*, template: Template) -> CompiledTemplate:
    """Compile a template's parts, raising TemplateRenderError naming the broken part."""
    parts = {}
    for part in ("subject", "html_body", "text_body"):
        source = getattr(template, part)
        loading = _LOADING_TAGS.search(source or "")
        if loading:
            tag = loading.group(1)
            raise TemplateRenderError(f"{part}: {{% {tag} %}} has nothing to load: a template is one piece.")
        try:
            parts[part] = template_measure(_EMAIL_ENGINE.from_string(source)) if source else None
        except (TemplateSyntaxError, TemplateLimitExceeded) as exc:
            raise TemplateRenderError(f"{part}: {exc}") from exc
    return CompiledTemplate(
        name=template.name, subject=parts["subject"], html=parts["html_body"], text=parts["text_body"]
    )


def template_validate(*, template: Template) -> None:
    """Raise ValidationError on the field whose template syntax is broken."""
    if not template.html_body and not template.text_body:
        raise ValidationError("A template needs an HTML body, a text body, or both.")
    try:
        compiled = template_compile(template=template)
    except TemplateRenderError as exc:
        field, _, message = str(exc).partition(": ")
        raise ValidationError({field: message}) from exc
    # A trial render for a sample contact catches what no contact's data can make smaller.
    sample = Contact(email="ada@example.com", first_name="Ada", last_name="Lovelace", attributes={})
    context = template_context(contact=sample)
    parts = (("subject", compiled.subject), ("html_body", compiled.html), ("text_body", compiled.text))
    for part, source in parts:
        try:
            if source is not None:
                with RenderBudget() as budget:
                    source.render(BudgetContext(context, budget=budget))
        except TemplateLimitExceeded as exc:
            raise ValidationError({part: f"This template is too costly to send: {exc}."}) from exc
        except Exception:  # noqa: S112 - other failures depend on each contact's data; sending reports them.
            continue


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
        "attributes": contact.attributes or {},
    }


def template_render(
    *, compiled: CompiledTemplate, contact: Contact, extra: dict | None = None
) -> RenderedEmail:
    """Render subject, HTML and text for one contact; derive the text part from HTML if absent.

    `extra` adds variables of the email itself, such as `unsubscribe_url`.
    """
    context = {**template_context(contact=contact), **(extra or {})}
    try:
        if compiled.subject is None:
            raise ValueError("the subject is empty")
        with RenderBudget() as budget:  # One per email: its three parts share the bounds.
            # Subject and text are not HTML: escaping would show "&amp;" to the reader.
            subject = compiled.subject.render(BudgetContext(context, autoescape=False, budget=budget))
            html = compiled.html.render(BudgetContext(context, budget=budget)) if compiled.html else ""
            if compiled.text:
                text = compiled.text.render(BudgetContext(context, autoescape=False, budget=budget))
            else:
                text = get_text(html, _TEXT_CONFIG).strip()
    except TemplateLimitExceeded as exc:
        raise TemplateLimitExceeded(f"{compiled.name}: {exc}") from exc
    except Exception as exc:  # A template filter can raise anything; it fails this one email only.
        raise TemplateRenderError(f"{compiled.name}: {exc}") from exc
    # A header must stay on one line, whatever a contact's data holds.
    return RenderedEmail(subject=" ".join(subject.split()), html=html, text=text)
