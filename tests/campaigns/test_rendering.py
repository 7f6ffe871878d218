"""Rendering: personalization, escaping, and templates that cannot reach what they must not."""

import pytest
from django.core.exceptions import ValidationError

from campaigns.exceptions import TemplateRenderError
from campaigns.models import Contact
from campaigns.rendering import template_compile, template_render, template_validate
from campaigns.text_part import text_part_from_html
from tests.factories import (
    ContactFactory,
    TemplateFactory,
)

pytestmark = pytest.mark.django_db


def _render(template, contact):
    return template_render(compiled=template_compile(template=template), contact=contact)


def _derived_text(html_body: str, contact=None) -> str:
    """Return the text part a template of this HTML and no text of its own renders."""
    return _render(TemplateFactory(html_body=html_body, text_body=""), contact or ContactFactory()).text


def test_render_personalizes_from_fields_and_attributes():
    template = TemplateFactory(
        subject="Hi {{ contact.first_name }}",
        html_body="<p>{{ contact.full_name }} on {{ attributes.plan }}</p>",
        text_body="Plan: {{ attributes.plan }}",
    )
    contact = ContactFactory(first_name="Ada", last_name="Lovelace", attributes={"plan": "pro"})
    rendered = _render(template, contact)
    assert rendered.subject == "Hi Ada"
    assert rendered.html == "<p>Ada Lovelace on pro</p>"
    assert rendered.text == "Plan: pro"


def test_render_escapes_html_only_and_keeps_subject_on_one_line():
    template = TemplateFactory(
        subject="For {{ contact.first_name }}", html_body="<b>{{ contact.first_name }}</b>"
    )
    contact = ContactFactory(first_name="Tom & <Jerry>\r\nBcc: x@example.com")
    rendered = _render(template, contact)
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject
    assert rendered.subject == "For Tom & <Jerry> Bcc: x@example.com"
    assert "&amp; &lt;Jerry&gt;" in rendered.html


def test_render_missing_variable_is_empty_and_text_is_derived_from_html():
    template = TemplateFactory(
        subject="Hi{{ attributes.nickname }}", html_body="<h1>Title</h1><p>Body text</p>"
    )
    rendered = _render(template, ContactFactory(attributes={}))
    assert rendered.subject == "Hi"
    assert "Title" in rendered.text
    assert "Body text" in rendered.text
    assert "<" not in rendered.text


def test_render_error_in_a_filter_fails_that_email_only():
    # Data a template cannot use renders nothing (test_render_filters); a contact's data that asks
    # for more than an email may hold still fails that email, with the reason.
    template = TemplateFactory(html_body="[{{ 'x'|ljust:attributes.width }}]")
    assert _render(template, ContactFactory(attributes={"width": 3})).html == "[x  ]"
    with pytest.raises(TemplateRenderError):
        _render(template, ContactFactory(attributes={"width": 10**9}))


def test_template_cannot_reach_model_methods():
    template = TemplateFactory(html_body="{{ contact.delete }}{{ contact.pk }}")
    contact = ContactFactory()
    rendered = _render(template, contact)
    assert rendered.html == ""
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_template_validate_names_the_broken_field():
    template = TemplateFactory.build(html_body="{% for %}")
    with pytest.raises(ValidationError) as excinfo:
        template.full_clean()
    assert "html_body" in excinfo.value.message_dict


@pytest.mark.parametrize(
    "source",
    ["{% include '../x' %}", "{% extends './x' %}", "{%include 'other.html'%}", "{% extends 'base.html' %}"],
)
def test_a_template_that_would_load_another_is_refused_with_a_clear_message(source):
    template = TemplateFactory.build(html_body=source)
    with pytest.raises(ValidationError) as refused:
        template_validate(template=template)
    assert "nothing to load" in str(refused.value)


def _text_part(html: str) -> str:
    """Return the text part a template of this HTML and no text makes, for some contact."""
    template = TemplateFactory(html_body=html, text_body="")
    return template_render(compiled=template_compile(template=template), contact=ContactFactory()).text


@pytest.mark.django_db
def test_the_derived_text_part_keeps_what_follows_a_closing_html():
    assert "Footer" in _text_part("<html><body><p>Hello</p></body></html><p>Footer</p>")


@pytest.mark.django_db
def test_the_derived_text_part_gives_a_wrapped_href_as_the_one_address_a_browser_follows():
    # As the HTML's link is tracked (url_strip): its text part's address must be the same one.
    html = '<p><a href="https://shop.example/sale?utm_source=news\n\t&amp;utm_medium=email">Sale</a></p>'
    assert _text_part(html) == "[Sale](https://shop.example/sale?utm_source=news&utm_medium=email)"


@pytest.mark.django_db
def test_a_control_character_inside_an_href_never_fails_the_email():
    # A vertical tab pasted from Word, in a contact's data or the template: lxml refuses it given.
    assert _text_part('<a href="https://shop.example/?code=A\x0bB">Code</a>') == (
        "[Code](https://shop.example/?code=AB)"
    )
    assert (
        _text_part('<svg><a xlink:href="https://shop.example/\x0b"><text>s</text></a></svg>')
        == "[s](https://shop.example/)"
    )


@pytest.mark.django_db
def test_the_derived_text_part_keeps_the_address_of_an_svg_link_written_with_xlink_href():
    html = '<p>See <svg><a xlink:href="https://shop.example/x"><text>Shop</text></a></svg></p>'
    assert _text_part(html) == "See [Shop](https://shop.example/x)"
    # Outside SVG, an xlink:href is no link: no address is offered for it.
    assert _text_part('<p><a xlink:href="https://shop.example/y">Plain</a></p>') == "Plain"


@pytest.mark.django_db
def test_the_derived_text_part_offers_no_address_for_a_mathml_link_no_browser_follows():
    html = (
        '<p>A <math><a href="https://shop.example/m">m</a><mrow><a href="https://shop.example/r">r</a>'
        '</mrow><mtext><a href="https://shop.example/h">h</a></mtext></math></p>'
    )
    assert _text_part(html) == "A mr[h](https://shop.example/h)"


@pytest.mark.django_db
def test_the_derived_text_part_leaves_out_what_the_html_hides_and_keeps_what_it_shows():
    html = (
        '<p>V1</p><div style="display:none !important">H1 <a href="https://shop.example/h">offer</a></div>'
        '<p style="display:none;display:block">V2</p><p style="DISPLAY : NONE">H2</p>'
        '<p style="display:/**/none">H3</p><dialog>H4</dialog><dialog open>V3</dialog>'
        '<div style="visibility:hidden">H5 <span style="visibility:visible">V4</span></div>'
        '<p style="visibility: hidden">H6</p><datalist><option>H7</option></datalist><p>V5</p>'
    )
    text = _text_part(html)
    assert [word for word in ("V1", "V2", "V3", "V4", "V5") if word not in text] == []
    assert [word for word in ("H1", "H2", "H3", "H4", "H5", "H6", "H7", "offer") if word in text] == []


@pytest.mark.django_db
def test_the_derived_text_part_reads_styles_as_a_browser_tokenizes_them_and_svgs_own_hiding():
    html = (
        '<p>V1</p><div style="d\\isplay:none">H1</div><div style="display:n\\6f ne">H2</div>'
        "<div style=\"font-family:'/*'; display:none; color:'*/'\">H3</div>"
        '<div style="--x:none;display:var(--x)">H4</div><div style="content-visibility:hidden">H5</div>'
        '<div style="font-family:\'a;display:none;\'">V2</div><div style="x:{;display:none;}">V3</div>'
        "<details><summary>V4</summary>H6</details>"
        '<svg display="none"><foreignObject>H7</foreignObject></svg>'
        '<svg><g visibility="hidden"><text>H8</text></g><desc>H9</desc></svg><p>V5</p>'
    )
    text = _text_part(html)
    assert [word for word in ("V1", "V2", "V3", "V4", "V5") if word not in text] == []
    assert [word for word in ("H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H9") if word in text] == []


#: Words and a link a browser would hide, each case below puts where one does.
_HIDDEN = 'Secret words <a href="https://hidden.example/leave">Leave</a>'
#: What a browser lays out inside SVG: HTML in a <foreignObject> given a size.
_LAID_OUT = f'<foreignObject width="200" height="40">{_HIDDEN}</foreignObject>'
#: SVG's containers that render nothing themselves (what they hold is drawn where referenced).
_SVG_UNRENDERED = (
    "defs", "symbol", "mask", "clipPath", "pattern", "marker", "linearGradient", "radialGradient", "filter",
)  # fmt: skip


def _assert_left_out(html: str) -> None:
    """Assert the text part made from the HTML between two paragraphs keeps both, and leaves out
    every word (and the address) of what the HTML hides."""
    text = text_part_from_html(f"<p>Before</p>{html}<p>After</p>")
    assert "Before" in text
    assert "After" in text
    assert [word for word in ("Secret", "Leave", "hidden.example") if word in text] == []


@pytest.mark.parametrize(
    "html",
    [
        '<a popover href="https://hidden.example/leave">Leave</a>',
        f"<div popover>{_HIDDEN}</div>",
        f"<ruby>x<rp>{_HIDDEN}</rp><rt>y</rt></ruby>",
        f"<progress>{_HIDDEN}</progress>",
        f"<meter>{_HIDDEN}</meter>",
        f"<details><summary>More</summary><summary>{_HIDDEN}</summary></details>",
        f"<details><summary hidden>More</summary><summary>{_HIDDEN}</summary></details>",
        *(f"<svg><{tag}>{_LAID_OUT}</{tag}></svg>" for tag in _SVG_UNRENDERED),
        f"<svg><switch><g></g>{_LAID_OUT}</switch></svg>",
        f"<svg><switch><desc>d</desc>{_LAID_OUT}</switch></svg>",
        f'<svg><g requiredExtensions="urn:x">{_LAID_OUT}</g></svg>',
        f'<svg><g systemLanguage="zz">{_LAID_OUT}</g></svg>',
        f"<svg><foreignObject>{_HIDDEN}</foreignObject></svg>",
        f'<svg><foreignObject width="200">{_HIDDEN}</foreignObject></svg>',
        f'<svg><foreignObject style="width:0;height:40px" width="200">{_HIDDEN}</foreignObject></svg>',
        f"<svg>{_HIDDEN}</svg>",
        f"<svg><g>{_HIDDEN}</g><text><g>{_HIDDEN}</g></text></svg>",
        f"<math><mphantom><mtext>{_HIDDEN}</mtext></mphantom></math>",
        f"<math><semantics><mi>x</mi><mtext>{_HIDDEN}</mtext></semantics></math>",
        f"<math><maction><mi>x</mi><mtext>{_HIDDEN}</mtext></maction></math>",
        f'<math><maction selection="2"><mtext>{_HIDDEN}</mtext><mi>x</mi></maction></math>',
        f'<svg display="NONE">{_LAID_OUT}</svg>',
        f'<svg><g display=" none ">{_LAID_OUT}</g></svg>',
        f'<svg><g visibility="Hidden">{_LAID_OUT}</g></svg>',
        f'<svg display="None">{_LAID_OUT}</svg>',
        '<a href="https://hidden.example/leave">&#8203;</a><a href="https://hidden.example/leave">&shy;</a>',
        '<a href="https://hidden.example/leave"><span style="display:none">Secret words</span></a>',
        f"<canvas width=1 height=1>{_HIDDEN}</canvas>",
        f"<video>{_HIDDEN}</video>",
        f"<audio>{_HIDDEN}</audio>",
        f'<div style="opacity:0">{_HIDDEN}</div>',
        f'<div style="opacity: 0"><p style="opacity:1">{_HIDDEN}</p></div>',
        f'<svg width="0" height="0"><text>{_HIDDEN}</text></svg>',
        f'<svg style="height:0"><text>{_HIDDEN}</text></svg>',
    ],
    ids=[
        "a popover link",
        "a popover",
        "a ruby's rp",
        "a progress bar's content",
        "a meter's content",
        "a closed details' second summary",
        "after a closed details' hidden first summary",
        "svg defs",
        "svg symbol",
        "svg mask",
        "svg clipPath",
        "svg pattern",
        "svg marker",
        "svg linearGradient",
        "svg radialGradient",
        "svg filter",
        "svg switch's second child",
        "svg switch's child after a desc",
        "svg requiredExtensions",
        "svg systemLanguage",
        "svg foreignObject of no size",
        "svg foreignObject of no height",
        "svg foreignObject styled to no width",
        "svg character data",
        "svg character data outside text elements",
        "mathml mphantom",
        "mathml semantics' second child",
        "mathml maction's second child",
        "mathml maction selecting another child",
        "svg display NONE",
        "svg display with blanks",
        "svg visibility Hidden",
        "svg display None on the svg",
        "a link of zero-width characters",
        "a link whose content is hidden",
        "a canvas's fallback",
        "a video's fallback",
        "an audio's fallback",
        "opacity 0",
        "opacity 0 around an opaque child",
        "an svg sized zero",
        "an svg styled to no height",
    ],
)
def test_the_derived_text_part_leaves_out_what_a_browser_never_lays_out_and_offers_no_hidden_link(html):
    _assert_left_out(html)


@pytest.mark.parametrize(
    "html",
    [
        "<details><p>x</p><summary>{link}</summary><summary>More</summary></details>",
        "<ruby>x<rt>{link}</rt></ruby>",
        '<svg><text y="20">Hi <tspan>{link}</tspan></text></svg>',
        '<svg><foreignObject width="200px" height="100%">{link}</foreignObject></svg>',
        '<svg><foreignObject style="width:200px;height:40px">{link}</foreignObject></svg>',
        '<svg display="none !important"><foreignObject width="200" height="40">{link}</foreignObject></svg>',
        '<svg><switch><foreignObject width="200" height="40">{link}</foreignObject><g></g></switch></svg>',
        '<svg><g requiredFeatures="http://www.w3.org/TR/SVG11/feature#Shape"><text>{link}</text></g></svg>',
        "<math><maction><mtext>{link}</mtext><mi>x</mi></maction></math>",
        '<math><maction selection=" 1 "><mtext>{link}</mtext><mi>x</mi></maction></math>',
        "<math><semantics><mtext>{link}</mtext><annotation>x</annotation></semantics></math>",
        '<div style="opacity:0.4">{link}</div>',
    ],
    ids=[
        "a closed details' first summary",
        "a ruby's rt",
        "svg tspan",
        "svg foreignObject sized by attributes",
        "svg foreignObject sized by its style",
        "svg display none !important, which no browser takes",
        "svg switch's first child",
        "svg requiredFeatures, which browsers ignore",
        "mathml maction's first child",
        "mathml maction selecting its first child",
        "mathml semantics' first child",
        "a partial opacity",
    ],
)
def test_the_derived_text_part_keeps_what_svg_mathml_ruby_and_details_show(html):
    text = text_part_from_html(html.format(link='<a href="https://shown.example/leave">Leave</a>'))
    assert "[Leave](https://shown.example/leave)" in text


def test_the_derived_text_part_offers_an_image_links_address_but_none_for_a_link_showing_nothing():
    html = (
        '<a href="https://shown.example/logo"><img src="logo.png"></a>'
        '<p><a href="https://hidden.example/a"><img alt=""></a><a href="https://hidden.example/b"> </a></p>'
    )
    assert text_part_from_html(html) == "[](https://shown.example/logo)"


def test_the_derived_text_part_keeps_inert_text_but_offers_no_link_inside_it():
    html = (
        '<div inert><a href="https://hidden.example/leave">Leave</a> now <svg><a '
        'xlink:href="https://hidden.example/svg"><text>or here</text></a></svg></div>'
    )
    assert text_part_from_html(html) == "Leave now or here"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("html", "text"),
    [
        ('<html style="display:none"><body><p>Hi</p></body></html>', ""),
        ('<html style="visibility:hidden"><body><p>Hi</p></body></html>', ""),
        ('<html style="visibility:hidden"><body><p style="visibility:visible">Hi</p>x</body></html>', "Hi"),
    ],
)
def test_a_document_whose_root_hides_itself_has_an_empty_text_part_never_a_failure(html, text):
    assert _text_part(html) == text


def test_the_derived_text_part_of_a_table_grows_with_its_words_not_rows_times_widths():
    rows = "".join(f"<tr><td>Row {n}</td><td>{{{{ attributes.bio }}}}</td></tr>" for n in range(300))
    template = TemplateFactory(
        html_body=f"<p>Hi {{{{ contact.first_name }}}}</p><table>{rows}</table>", text_body=""
    )
    contact = ContactFactory(first_name="Ada", attributes={"bio": "b" * 240})
    rendered = template_render(compiled=template_compile(template=template), contact=contact)
    # A grid would pad each of the 600 cells' lines to the widest: 300 × 250 blanks and more.
    assert len(rendered.text) < 2 * len(rendered.html)
    lines = rendered.text.splitlines()
    assert lines[0] == "Hi Ada"
    assert "Row 7" in lines
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.django_db
def test_the_derived_text_part_leaves_out_what_the_html_never_shows():
    text = _derived_text(
        "<p>Hi</p><template><p>draft <a href='https://x.example/t'>t</a></p></template>"
        "<div hidden>secret</div><noembed>old</noembed><p>Bye</p>"
    )
    assert text == "Hi\n\nBye"


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [1500, 2100])
def test_the_derived_text_part_of_html_nested_past_what_a_parser_reads_keeps_every_word(depth):
    html = (
        "<p>Hello {{ contact.first_name }}</p><style>.x{}</style>"
        '<div hidden><a href="https://shop.example/hidden">h</a></div>'
        + "<div>" * depth
        + 'Your code is 1234 <a href="https://shop.example/x">shop</a>'
        + "</div>" * depth
        + "<p>Footer: unsubscribe</p>"
    )
    template = TemplateFactory(html_body=html, text_body="")
    rendered = template_render(
        compiled=template_compile(template=template), contact=ContactFactory(first_name="Ada")
    )
    # Past Python's stack (1,500) or libxml2's 2,048 levels: the words, never a cut or a style.
    assert rendered.text.startswith("Hello Ada")
    # Read as text, what the HTML hides cannot be told apart: no link's address is offered.
    assert "Your code is 1234 shop" in rendered.text
    assert "https://" not in rendered.text
    assert rendered.text.endswith("Footer: unsubscribe")
    assert ".x{}" not in rendered.text


def test_reading_the_words_of_markup_takes_one_pass():
    from campaigns.text_part import _text_of_markup

    # Each would cost the square of its length to a reader that scanned again from every "<".
    assert _text_of_markup("<" * 200_000) == "<" * 200_000  # No tag: text.
    assert _text_of_markup("<a " * 100_000) == " ".join(["<a"] * 100_000)
    assert _text_of_markup("<!--" * 50_000) == ""  # An unclosed comment hides the rest.
    assert _text_of_markup("<style>" * 50_000) == ""


@pytest.mark.django_db
def test_a_document_that_hides_itself_has_an_empty_text_part():
    assert _derived_text("<html hidden><body>Hi</body></html>") == ""


@pytest.mark.django_db
def test_the_derived_text_part_reads_each_entity_once():
    text = _derived_text(
        '<p><a href="https://shop.example/?id=7&region=eu">Shop</a> a=1&amp;copy=2 &amp;lt;3 &copy; '
        '<a href="https://shop.example/?a=1&amp;section=2">S</a></p>'
    )
    assert "[Shop](https://shop.example/?id=7&region=eu)" in text
    assert "a=1&copy=2 &lt;3 ©" in text
    assert "(https://shop.example/?a=1&section=2)" in text


@pytest.mark.django_db
@pytest.mark.parametrize("control", ["\x0b", "\x01", "\x1f", "\ufffe"])
def test_a_control_character_beside_an_ampersand_reads_as_a_blank_in_the_derived_text(control):
    template = TemplateFactory(html_body=f"<p>Call us{control}Mon &amp; Tue</p>", text_body="")
    rendered = template_render(compiled=template_compile(template=template), contact=ContactFactory())
    assert rendered.text == "Call us Mon & Tue"


@pytest.mark.django_db
def test_the_derived_text_part_keeps_what_nests_past_256_levels():
    deep = "<div>" * 300 + "Our offer" + "</div>" * 300
    template = TemplateFactory(html_body=f"<p>Hi</p>{deep}<p>Terms apply.</p>", text_body="")
    rendered = template_render(compiled=template_compile(template=template), contact=ContactFactory())
    assert "Our offer" in rendered.text
    assert "Terms apply." in rendered.text


@pytest.mark.django_db
def test_the_derived_text_part_reads_styles_with_csss_own_blanks_and_digits():
    # Each second declaration is none CSS takes (a Unicode blank or digit): the first stands.
    hidden = [
        "display:none; display:inline\\a0",
        "display:none; display:inline\u00a0",
        "display:none; display:inline\u3000",
        "display:none; display:inline\u2028",
        "display:inline !important\\a0; display:none",
        "opacity:0; opacity:\u0661",
        "opacity:0; opacity:\uff11",
    ]
    links = "".join(
        f'<a href="https://hidden.example/{n}" style="{style}">Leave</a>' for n, style in enumerate(hidden)
    )
    text = _derived_text(f'<p>Hi</p>{links}<p style="display:none\u00a0">Shown</p>')
    assert text == "Hi\n\nShown"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    ["block\\b", "block\x0b", "block\x1c", "block\x1d", "block\x1e", "block\x1f", "block\\1f", "inline\\0"],
)
def test_a_control_character_in_a_display_value_never_fails_the_email(value):
    # No value CSS takes, so no display: lxml refused the style written back with it.
    assert _derived_text(f'<p style="display:{value}">Shown</p><p>Bye</p>') == "Shown\n\nBye"


@pytest.mark.django_db
def test_a_control_character_a_contacts_data_puts_in_a_display_value_never_fails_the_email():
    contact = ContactFactory(attributes={"disp": "block\u000b"})
    html = '<p style="display:{{ attributes.disp }}">Shown</p><p>Bye</p>'
    assert _derived_text(html, contact) == "Shown\n\nBye"


#: What Chromium hides, each case below putting _HIDDEN where a browser draws none of it.
_COLLAPSED = '<col style="visibility:collapse">'


@pytest.mark.parametrize(
    "html",
    [
        f"<geolocation>{_HIDDEN}</geolocation>",
        f"<usermedia>{_HIDDEN}</usermedia>",
        f"<fencedframe>{_HIDDEN}</fencedframe>",
        f"<table><colgroup>{_COLLAPSED}</colgroup><tr><td>{_HIDDEN}</td></tr></table>",
        f"<table><col>{_COLLAPSED}<tr><td>Shown</td><td>{_HIDDEN}</td></tr></table>",
        f'<table><col span="2" style="visibility:collapse"><tr><td colspan="2">{_HIDDEN}</td></tr></table>',
        f'<table><colgroup span="2" style="visibility:collapse"></colgroup><tr><td>x</td><td>{_HIDDEN}</td>'
        "</tr></table>",
        f'<table><col>{_COLLAPSED}<tr><td rowspan="2">S</td><td>x</td></tr><tr><td>{_HIDDEN}</td></tr>'
        "</table>",
        f'<table>{_COLLAPSED}<tr><td style="visibility:visible">{_HIDDEN}</td></tr></table>',
        f'<table>{_COLLAPSED}<col><tr><td colspan="2">{_HIDDEN}</td></tr></table>',
        f'<table><col hidden><colgroup style="visibility:collapse"></colgroup><tr><td>x</td>'
        f"<td>{_HIDDEN}</td></tr></table>",
        f'<table><tr style="visibility:collapse"><td style="visibility:visible">{_HIDDEN}</td></tr></table>',
        f'<table style="visibility:collapse"><tr><td style="visibility:visible">{_HIDDEN}</td></tr></table>',
        f'<svg viewBox="0 0 0 0"><foreignObject width="200" height="40">{_HIDDEN}</foreignObject></svg>',
        f'<svg viewBox="0,0,100,0"><text>{_HIDDEN}</text></svg>',
        f'<svg><svg viewBox=" 0 0 -0 10 " width="50" height="50"><text>{_HIDDEN}</text></svg></svg>',
    ],
    ids=[
        "a geolocation element",
        "a usermedia element",
        "a fenced frame",
        "a collapsed col in a colgroup",
        "the second column collapsed",
        "a cell spanning collapsed columns",
        "a collapsed colgroup's span",
        "a cell a rowspan moves into a collapsed column",
        "a visible cell in a collapsed column",
        "spanning past the last column a cell starts in",
        "after a col that is no column, alone in its group",
        "a collapsed row",
        "a collapsed table's rows",
        "a viewBox of no size",
        "a viewBox of no height, with commas",
        "a nested svg's viewBox of no width",
    ],
)
def test_the_derived_text_part_leaves_out_permission_elements_collapsed_columns_and_empty_viewboxes(html):
    _assert_left_out(html)


@pytest.mark.parametrize(
    "html",
    [
        f"<table><colgroup>{_COLLAPSED}</colgroup><tr><td>x</td><td>{{link}}</td></tr></table>",
        f'<table><col>{_COLLAPSED}<tr><td colspan="2">{{link}}</td></tr></table>',
        f'<table><col style="display:none">{_COLLAPSED}<tr><td>x</td><td>{{link}}</td></tr></table>',
        f"<table><col>{_COLLAPSED}<tr><td>x</td><td>y</td></tr><tr><td>{{link}}</td></tr></table>",
        '<table><col hidden><colgroup style="visibility:collapse"></colgroup><tr><td>{link}</td><td>x</td>'
        "</tr></table>",
        '<svg viewBox="0 0 -100 100"><foreignObject width="200" height="40">{link}</foreignObject></svg>',
        '<svg viewBox="0 0 0. 10"><foreignObject width="200" height="40">{link}</foreignObject></svg>',
        '<svg viewBox="0 0 0 0 0"><foreignObject width="200" height="40">{link}</foreignObject></svg>',
        '<svg viewBox="0 0 0px 10"><foreignObject width="200" height="40">{link}</foreignObject></svg>',
    ],
    ids=[
        "a column that shows",
        "a cell spanning a column that shows",
        "a col that is no column, the next collapsed",
        "a row with no rowspan above",
        "a col that is no column, alone in its group, which is one column",
        "a negative viewBox, which is none",
        "a viewBox number ending in a point",
        "a viewBox of five numbers",
        "a viewBox with a unit",
    ],
)
def test_the_derived_text_part_keeps_a_table_column_that_shows_and_an_svg_with_no_empty_view_box(html):
    text = text_part_from_html(html.format(link='<a href="https://shown.example/leave">Leave</a>'))
    assert "[Leave](https://shown.example/leave)" in text
