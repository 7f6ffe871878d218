"""The text part made from an email's HTML (campaigns.text_part): what Chromium shows a reader, and
only that, its blocks on lines of their own, a link's address only where a click follows it."""

import pytest

from campaigns.rendering import template_compile, template_render
from campaigns.text_part import text_part_from_html
from tests.campaigns.test_rendering import _assert_left_out
from tests.factories import ContactFactory, TemplateFactory

#: A link as the text part writes it, and its HTML.
TRACKED = "[Shop](https://shop.example/track)"
LINK = '<a href="https://shop.example/track">Shop</a>'
#: Words and a link a browser would hide, each case below puts where one does.
HIDDEN = 'Secret words <a href="https://hidden.example/leave">Leave</a>'


#: An exclusive accordion's first open <details>, which Chromium keeps open.
_FIRST_OPEN = '<details open name="faq"><summary>Shipping</summary>Two days.</details>'


@pytest.mark.parametrize(
    "html",
    [
        f'{_FIRST_OPEN}<details open name="faq"><summary>Returns</summary>{HIDDEN}</details>',
        f'<div style="display:none">{_FIRST_OPEN}</div><details open name="faq"><summary>Returns</summary>'
        f"{HIDDEN}</details>",
        f'<table><tr style="visibility:collapse"><td>{_FIRST_OPEN}</td></tr></table><details open name="faq">'
        f"<summary>Returns</summary>{HIDDEN}</details>",
    ],
    ids=["a second open details of a name", "after a first one hidden", "after a first one collapsed"],
)
def test_the_derived_text_part_leaves_out_what_a_details_its_accordion_closes_holds(html):
    _assert_left_out(html)
    assert "Returns" in text_part_from_html(html)  # Its summary shows, closed.


@pytest.mark.parametrize(
    "html",
    [
        f'<details open name="faq"><summary>Returns</summary>{{link}}</details>{_FIRST_OPEN}',
        f'{_FIRST_OPEN}<details open name="FAQ"><summary>Returns</summary>{{link}}</details>',
        '<details open name=""><summary>x</summary></details><details open name=""><summary>Returns</summary>'
        "{link}</details>",
        f'<template>{_FIRST_OPEN}</template><details open name="faq"><summary>Returns</summary>{{link}}'
        "</details>",
    ],
    ids=["the first of a name", "a name in another case", "an empty name", "after one in a template"],
)
def test_the_derived_text_part_keeps_what_an_open_details_its_accordion_keeps_open_holds(html):
    assert TRACKED in text_part_from_html(html.format(link=LINK))


@pytest.mark.parametrize(
    "html",
    [
        f"<camera>{HIDDEN}</camera>",
        f"<microphone>{HIDDEN}</microphone>",
        f'<div style="display:table-column">{HIDDEN}</div>',
        f'<span style="display:table-column-group">{HIDDEN}</span>',
    ],
    ids=["a camera element", "a microphone element", "display table-column", "display table-column-group"],
)
def test_the_derived_text_part_leaves_out_what_chromium_draws_a_button_or_no_box_for(html):
    _assert_left_out(html)


def test_the_derived_text_part_gives_an_option_outside_a_select_as_its_label_and_no_link():
    # Chromium draws an <option>'s label, as plain text, never the link it holds.
    html = f'<div><option>Visit {LINK} today</option><option label="Sale">{LINK}</option></div>'
    assert text_part_from_html(html) == "Visit Shop today\nSale"


def test_the_derived_text_part_keeps_an_editable_links_words_but_offers_no_address_for_it():
    # A click on an editable link places a caret: a `contenteditable="false"` part lets one follow it.
    html = (
        f'<div contenteditable>Edit {LINK} or <span contenteditable="false">{LINK}</span></div>'
        f'<p style="-webkit-user-modify:read-write">{LINK.replace("Shop", "Styled")}</p>'
    )
    assert text_part_from_html(html).split("\n\n") == [f"Edit Shop or {TRACKED}", "Styled"]


#: Each block Chromium lays out that inscriptis's strict profile did not know, with its words.
_BLOCKS = [
    "<center>Thanks</center>",
    "<hr>Thanks<hr>",
    "<section>Thanks</section>",
    "<dl><dt>Thanks</dt><dd>Again</dd></dl>",
    "<form>Thanks</form>",
    "<fieldset><legend>Thanks</legend>Again</fieldset>",
    "<details open><summary>Thanks</summary>Again</details>",
    "<dialog open>Thanks</dialog>",
    "<search>Thanks</search>",
    "<menu>Thanks</menu>",
    "<dir>Thanks</dir>",
    '<select multiple><optgroup label="Thanks"><option>Again</option></optgroup></select>',
    *(
        f'<span style="display:{display}">Thanks</span>'
        for display in (
            "flex",
            "list-item",
            "table",
            "grid",
            "block",
            "flow-root",
            "table-cell",
            "block flex",
        )
    ),
    '<b style="display:none; display:BLOCK">Thanks</b>',
]


@pytest.mark.parametrize("block", _BLOCKS)
def test_the_derived_text_part_never_runs_the_words_of_neighbouring_blocks_together(block):
    words = text_part_from_html(f"<p>Hi {LINK}{block}Bye</p>").split()
    assert [word for word in (TRACKED, "Thanks", "Bye") if word not in words] == []
    assert "Again" in words or "Again" not in block


@pytest.mark.django_db
def test_the_rendered_text_part_puts_a_link_and_a_centered_line_on_lines_of_their_own():
    template = TemplateFactory(
        html_body=f"Hi {{{{ contact.first_name }}}}, {LINK}<center>Thanks</center>", text_body=""
    )
    contact = ContactFactory(first_name="Ada")
    rendered = template_render(compiled=template_compile(template=template), contact=contact)
    assert [line for line in rendered.text.splitlines() if line] == [f"Hi Ada, {TRACKED}", "Thanks"]


@pytest.mark.parametrize(
    "html",
    [
        '<span style="display:inline-block">Thanks</span>',
        '<span style="display:inline flex">Thanks</span>',
        '<div style="display:inline">Thanks</div>',
    ],
)
def test_the_derived_text_part_keeps_an_inline_element_in_its_line(html):
    assert text_part_from_html(f"<div>Hi{html}Bye</div>") == "HiThanksBye"


def test_the_derived_text_part_keeps_what_visibility_initial_shows_inside_a_hidden_block():
    html = '<div style="visibility:hidden">Secret <p style="visibility:initial">Shown</p></div><p>Bye</p>'
    assert text_part_from_html(html) == "Shown\n\nBye"


@pytest.mark.parametrize(
    ("select", "shown"),
    [
        ("<select><option>Red</option><option selected>Blue</option><option>Green</option></select>", "Blue"),
        ("<select><option>Red</option><option>Blue</option></select>", "Red"),
        (
            "<select><option disabled>Red</option><optgroup disabled><option>Blue</option></optgroup>"
            "<option>Green</option></select>",
            "Green",
        ),
        (
            "<select><option selected>Red</option><option selected>Blue</option><option>Grey</option>"
            "</select>",
            "Blue",
        ),
        ('<select size="1"><option label="Navy">Blue</option><option>Green</option></select>', "Navy"),
        (f"<select><option>Red {LINK}</option><option>Blue</option></select>", "Red Shop"),
    ],
    ids=[
        "the selected option",
        "none selected: the first",
        "none selected: the first not disabled",
        "several selected: the last",
        "an option's label",
        "an option's text, never its link",
    ],
)
def test_the_derived_text_part_keeps_only_the_option_a_one_line_select_shows(select, shown):
    assert text_part_from_html(f"<p>Colour: {select} in stock</p>") == f"Colour: {shown} in stock"


def test_the_derived_text_part_keeps_every_option_a_list_box_shows():
    html = (
        '<p>Pick <select multiple><optgroup label="Warm"><option>Red</option></optgroup><option>Blue'
        '</option></select> or <select size="2"><option>Green</option><option>Grey</option></select></p>'
    )
    assert text_part_from_html(html).split() == ["Pick", "Warm", "Red", "Blue", "or", "Green", "Grey"]
