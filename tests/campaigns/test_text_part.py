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


def _lines(html: str) -> list[str]:
    """Return the text part's lines that hold words, each without its indent."""
    return [line.strip() for line in text_part_from_html(html).splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("html", "lines"),
    [
        ('<ol start="3"><li>Pack</li><li>Ship</li></ol>', ["3. Pack", "4. Ship"]),
        ("<ol reversed><li>Pack</li><li>Ship</li><li>Track</li></ol>", ["3. Pack", "2. Ship", "1. Track"]),
        ('<ol reversed start="10"><li>Pack</li><li>Ship</li></ol>', ["10. Pack", "9. Ship"]),
        ('<ol type="a"><li>Pack</li><li>Ship</li></ol>', ["a. Pack", "b. Ship"]),
        ('<ol type="A" start="27"><li>Pack</li><li>Ship</li></ol>', ["AA. Pack", "AB. Ship"]),
        ('<ol type="i" start="3"><li>Pack</li><li>Ship</li></ol>', ["iii. Pack", "iv. Ship"]),
        ('<ol type="I" start="3999"><li>Pack</li><li>Ship</li></ol>', ["MMMCMXCIX. Pack", "4000. Ship"]),
        ('<ol type="a" start="0"><li>Pack</li><li>Ship</li></ol>', ["0. Pack", "a. Ship"]),
        ('<ol><li>Pack</li><li value="7">Ship</li><li>Track</li></ol>', ["1. Pack", "7. Ship", "8. Track"]),
        (
            '<ol reversed><li>Pack</li><li value="10">Ship</li><li>Track</li></ol>',
            ["3. Pack", "10. Ship", "9. Track"],
        ),
        ('<ol start="4.7"><li value="-2x">Pack</li><li>Ship</li></ol>', ["-2. Pack", "-1. Ship"]),
        ('<ol><li type="a">Pack</li><li>Ship</li></ol>', ["a. Pack", "2. Ship"]),
        ("<ol reversed><li hidden>Pack</li><li>Ship</li><li>Track</li></ol>", ["2. Ship", "1. Track"]),
        (
            '<ol start="2"><li>Pack<ol type="i"><li>Box</li></ol></li><li>Ship</li></ol>',
            ["2. Pack", "i. Box", "3. Ship"],
        ),
    ],
    ids=[
        "a start",
        "reversed",
        "reversed from a start",
        "lower-case letters",
        "upper-case letters past z",
        "lower-case numerals",
        "upper-case numerals past their last",
        "letters from 0",
        "an item's value",
        "an item's value in a reversed list",
        "a start and a value as html reads integers",
        "an item's own type",
        "a hidden item, uncounted",
        "a list inside an item",
    ],
)
def test_the_derived_text_part_numbers_an_ordered_list_as_chromium_draws_it(html, lines):
    assert _lines(html) == lines


@pytest.mark.parametrize(
    ("html", "lines"),
    [
        (
            '<div style="display:grid"><span>Order 123</span><span>Shipped</span></div>',
            ["Order 123", "Shipped"],
        ),
        (
            '<p>Hi<span style="display:inline-grid"><span>Order 123</span><span>Shipped</span></span>Bye</p>',
            ["Hi", "Order 123", "Shipped", "Bye"],
        ),
        ('<div style="display:grid">Order <b>123</b><span>Shipped</span></div>', ["Order", "123", "Shipped"]),
    ],
    ids=["a grid", "an inline grid", "a grid's own words"],
)
def test_the_derived_text_part_puts_each_of_a_grids_items_on_a_line_of_its_own(html, lines):
    # Chromium blockifies each item, a run of the container's own words too, in one column.
    assert _lines(html) == lines


@pytest.mark.parametrize(
    ("html", "words"),
    [
        ('<div style="display:flex"><span>Order 123</span><span>Shipped</span></div>', "Order 123 Shipped"),
        ('<p>Hi <span style="display:inline-flex">Order<b>123</b>x</span> Bye</p>', "Hi Order 123 x Bye"),
        ('<div style="display:-webkit-box"><i>Order</i><b>123</b></div>', "Order 123"),
    ],
    ids=["a row of flex items", "an inline flex container's words and elements", "a legacy flexible box"],
)
def test_the_derived_text_part_never_runs_a_flex_containers_items_together(html, words):
    # Chromium lays them side by side, touching: a blank keeps their words apart.
    assert text_part_from_html(html) == words


@pytest.mark.parametrize(
    ("html", "label"),
    [
        ('<img alt="Big sale" src="sale.png">', "[Big sale]"),
        (
            '<span><img alt=" Big\nsale " src="sale.png"></span><img alt="Now" src="now.png">',
            "[Big sale Now]",
        ),
        ('<img alt="Tom &amp; Jerry" src="sale.png">', "[Tom & Jerry]"),
        ('<b>Shop</b><img alt="Big sale" src="sale.png">', "[Shop]"),
        ('<img src="sale.png">', "[]"),
    ],
    ids=[
        "an image",
        "two images",
        "an alt with an ampersand",
        "words beside an image",
        "an image without alt",
    ],
)
def test_the_derived_text_part_words_an_image_only_link_with_its_images_alt(html, label):
    assert text_part_from_html(f'<p><a href="https://shop.example/sale">{html}</a></p>') == (
        f"{label}(https://shop.example/sale)"
    )


def test_the_derived_text_part_keeps_a_marquees_words():
    # The unsubscribe check counts no link in a <marquee>: its words still show, scrolling.
    assert text_part_from_html(f"<marquee>Spring sale {LINK}</marquee>") == f"Spring sale {TRACKED}"
