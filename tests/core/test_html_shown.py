"""What an email's HTML shows its reader, as the unsubscribe check counts it (core.html_shown):
only a link that is shown, holds something that draws, and can be clicked."""

import sys

import pytest

from core import html_table
from core.html import html_link_shown

ADDRESS = "https://campanile.invalid/unsubscribe-check"
LINK = f'<a href="{ADDRESS}">Unsubscribe</a>'
#: HTML a browser lays out inside SVG: a <foreignObject> given a size.
LAID_OUT = f'<foreignObject width="200" height="40">{LINK}</foreignObject>'


@pytest.mark.parametrize(
    "html",
    [
        f'<a popover href="{ADDRESS}">Unsubscribe</a>',
        f"<div popover>{LINK}</div>",
        f"<ruby>x<rp>{LINK}</rp><rt>y</rt></ruby>",
        f"<progress>{LINK}</progress>",
        f"<meter>{LINK}</meter>",
        f"<div inert>{LINK}</div>",
        f"<details><summary>More</summary><summary>{LINK}</summary></details>",
        f"<details><summary>More</summary>Or <b>{LINK}</b></details>",
        *(
            f"<svg><{tag}>{LAID_OUT}</{tag}></svg>"
            for tag in ("defs", "symbol", "mask", "clipPath", "pattern", "marker", "linearGradient", "filter")
        ),
        f"<svg><switch><g></g>{LAID_OUT}</switch></svg>",
        f'<svg><g requiredExtensions="urn:x">{LAID_OUT}</g></svg>',
        f'<svg><g systemLanguage="zz">{LAID_OUT}</g></svg>',
        f"<svg><foreignObject>{LINK}</foreignObject></svg>",
        f"<svg>{LAID_OUT}</svg>",
        f"<math><mphantom><mtext>{LINK}</mtext></mphantom></math>",
        f"<math><semantics><mi>x</mi><mtext>{LINK}</mtext></semantics></math>",
        f"<math><maction><mi>x</mi><mtext>{LINK}</mtext></maction></math>",
        f"<math><mtext>{LINK}</mtext></math>",
        f'<svg display="NONE">{LAID_OUT}</svg>',
        f'<svg display=" none ">{LAID_OUT}</svg>',
        f'<svg visibility="Hidden">{LAID_OUT}</svg>',
        f'<a href="{ADDRESS}">&#8203;</a>',
        f'<a href="{ADDRESS}">&shy;</a>',
        f'<a href="{ADDRESS}">&#x200e;&#x2060;</a>',
        f'<a href="{ADDRESS}"><img alt=""></a>',
        f'<a href="{ADDRESS}"><img src=" "></a>',
        f'<a href="{ADDRESS}"><img src="logo.png" width="0" height="0"></a>',
        f'<a href="{ADDRESS}"><img src="logo.png" height="0"></a>',
        f'<a href="{ADDRESS}"><img src="logo.png" style="width:0px"></a>',
        f'<a href="{ADDRESS}"><svg width="0" height="0"></svg></a>',
        f'<a href="{ADDRESS}"><svg><text>Unsubscribe</text></svg></a>',
        f'<a href="{ADDRESS}"><span hidden>Unsubscribe</span></a>',
        f'<a href="{ADDRESS}"><span style="visibility:hidden">Unsubscribe</span></a>',
        f'<a href="{ADDRESS}"><style>Unsubscribe</style><textarea>Unsubscribe</textarea></a>',
        f'<a href="{ADDRESS}"><table><tr><td><a href="https://other.example/">Unsubscribe</a></td></tr></table></a>',
        f'<div style="opacity:0">{LINK}</div>',
        f'<div style="opacity: 0%"><a style="opacity:1" href="{ADDRESS}">Unsubscribe</a></div>',
        f'<div style="OPACITY:-1 !important;opacity:1">{LINK}</div>',
        f'<div style="--o:0;opacity:var(--o)">{LINK}</div>',
    ],
    ids=[
        "a popover link",
        "in a popover",
        "in a ruby's rp",
        "in a progress bar",
        "in a meter",
        "inert",
        "a closed details' second summary",
        "in a closed details' content",
        "svg defs",
        "svg symbol",
        "svg mask",
        "svg clipPath",
        "svg pattern",
        "svg marker",
        "svg linearGradient",
        "svg filter",
        "svg switch's second child",
        "svg requiredExtensions",
        "svg systemLanguage",
        "svg foreignObject of no size",
        "any svg",
        "mathml mphantom",
        "mathml semantics' second child",
        "mathml maction's second child",
        "any mathml",
        "svg display NONE",
        "svg display with blanks",
        "svg visibility Hidden",
        "a zero-width space",
        "a soft hyphen",
        "bidi mark and word joiner",
        "an image with no address",
        "an image with a blank address",
        "an image sized 0",
        "an image of no height",
        "an image styled to no width",
        "an svg sized 0",
        "an svg's text",
        "hidden words",
        "invisible words",
        "raw text and a control's",
        "another link inside it",
        "opacity 0",
        "opacity 0 a child cannot undo",
        "opacity important",
        "opacity from a custom property",
    ],
)
def test_the_unsubscribe_check_counts_no_link_a_reader_cannot_see_or_click(html):
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is False


@pytest.mark.parametrize(
    "html",
    [
        LINK,
        f"<details><summary>{LINK}</summary><summary>More</summary></details>",
        f"<details><p>Intro</p><summary>{LINK}</summary></details>",
        f"<details open><summary>More</summary><summary>{LINK}</summary></details>",
        f"<ruby>x<rt>{LINK}</rt></ruby>",
        f'<div style="opacity:.5">{LINK}</div>',
        f'<div style="visibility:hidden"><a style="visibility:visible" href="{ADDRESS}">x</a></div>',
        f'<a href="{ADDRESS}" style="visibility:hidden"><b style="visibility:visible">x</b></a>',
        f'<a href="{ADDRESS}">&nbsp;&#8203;x</a>',
        f'<a href="{ADDRESS}"><img src="leave.png"></a>',
        f'<a href="{ADDRESS}"><img src="leave.png" width="80" height="20" alt=""></a>',
        f'<a href="{ADDRESS}"><img src="leave.png" width="\u0660"></a>',
        f'<a href="https://other.example/"><table><tr><td>{LINK}</td></tr></table></a>',
        f'<svg><text>x</text></svg><a href="{ADDRESS}">Unsubscribe</a>',
    ],
    ids=[
        "plain",
        "a closed details' first summary",
        "a closed details' first summary after other content",
        "an open details",
        "a ruby's rt",
        "half opaque",
        "visible in a hidden block",
        "visible words in a hidden link",
        "a word after blanks",
        "an image",
        "a sized image",
        "an image whose width is no ascii number",
        "inside another link",
        "after an svg",
    ],
)
def test_the_unsubscribe_check_counts_a_link_shown_plainly(html):
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is True


class _PastBudget(Exception):
    """More Python calls than the budget allowed."""


def _python_calls(budget: int, function, *args) -> int:
    """Return how many Python function calls function(*args) makes; raise _PastBudget as soon as
    they pass the budget (a count, not a time: the same on any machine, and quick to fail)."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1
            if calls > budget:
                raise _PastBudget(f"past {budget} calls")

    sys.setprofile(count)
    try:
        function(*args)
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize(
    "links",
    [
        # As a 264-byte template renders: a hidden block, 2,000 levels, then the links.
        "<div hidden>" + "<div>" * 2000 + LINK * 200,
        # Links elsewhere, 2,000 levels down: each is read, none counts.
        "<div>" * 2000 + '<a href="https://other.example/">x</a>' * 200,
    ],
    ids=["under a hidden block", "to another address"],
)
def test_the_unsubscribe_check_takes_steps_in_line_with_the_htmls_size_however_deep_it_nests(links):
    # Walking up from each link, and up again from each of its ancestors, took depth × depth steps
    # a link: a web worker held for minutes. Ten Python calls an element and text is room enough.
    nodes = 2000 + 200 * 2 + 5
    assert _python_calls(10 * nodes, html_link_shown, links, ADDRESS) <= 10 * nodes


@pytest.mark.parametrize(
    "html",
    [
        f'<a href="{ADDRESS}" style="display:none; display:inline\\a0">Unsubscribe</a>',
        f'<a href="{ADDRESS}" style="display:none; display:inline\u00a0">Unsubscribe</a>',
        f'<a href="{ADDRESS}" style="display:none; display:inline\u3000">Unsubscribe</a>',
        f'<a href="{ADDRESS}" style="display:none; display:inline\u2028">Unsubscribe</a>',
        f'<a href="{ADDRESS}" style="display:inline !important\\a0; display:none">Unsubscribe</a>',
        f'<a href="{ADDRESS}" style="opacity:0; opacity:\u0661">Unsubscribe</a>',
        f'<a href="{ADDRESS}" style="opacity:0; opacity:\uff11">Unsubscribe</a>',
    ],
    ids=[
        "an escaped no-break space",
        "a no-break space",
        "an ideographic space",
        "a line separator",
        "an escaped no-break space after important",
        "an arabic-indic one",
        "a full-width one",
    ],
)
def test_the_unsubscribe_check_reads_styles_with_csss_own_blanks_and_digits(html):
    # Chromium drops the second declaration (no value it takes): the link stays hidden.
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is False


def test_the_unsubscribe_check_counts_a_link_a_declaration_css_refuses_leaves_shown():
    assert html_link_shown(f'<p style="display:none\u00a0">{LINK}</p>', ADDRESS) is True


@pytest.mark.parametrize("tag", ["geolocation", "usermedia", "camera", "microphone", "fencedframe"])
def test_the_unsubscribe_check_counts_no_link_inside_a_permission_element_or_a_fenced_frame(tag):
    # Chromium draws a permission button, or an empty frame, instead of what they hold.
    assert html_link_shown(f"<p>Hi</p><{tag}>{LINK}</{tag}>", ADDRESS) is False


#: An exclusive accordion's first open <details>, which Chromium keeps open: later ones of its name
#: it closes.
_FIRST_OPEN = '<details open name="faq"><summary>Shipping</summary>Two days.</details>'


@pytest.mark.parametrize(
    "html",
    [
        f'{_FIRST_OPEN}<details open name="faq"><summary>Leave</summary>{LINK}</details>',
        f'{_FIRST_OPEN}<p>x</p><div><details open name="faq"><summary>Leave</summary>{LINK}</details></div>',
        f'<div style="display:none">{_FIRST_OPEN}</div><details open name="faq"><summary>More</summary>'
        f"{LINK}</details>",
        f'<div hidden>{_FIRST_OPEN}</div><details open name="faq"><summary>More</summary>{LINK}</details>',
        f'<details open name="faq"><summary>Outer</summary><details open name="faq"><summary>Inner'
        f"</summary>{LINK}</details></details>",
    ],
    ids=[
        "a second open details of a name",
        "further down the page",
        "after a first one display none hides",
        "after a first one hidden hides",
        "inside the first one",
    ],
)
def test_the_unsubscribe_check_counts_no_link_in_a_details_its_accordion_closes(html):
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is False


@pytest.mark.parametrize(
    "html",
    [
        f'<details open name="faq"><summary>Leave</summary>{LINK}</details>{_FIRST_OPEN}',
        f'{_FIRST_OPEN}<details open name="FAQ"><summary>Leave</summary>{LINK}</details>',
        f'<details open name=""><summary>x</summary></details><details open name=""><summary>Leave</summary>'
        f"{LINK}</details>",
        f'<details open name="faq"><summary>x</summary></details><details open><summary>Leave</summary>{LINK}'
        "</details>",
        f'<template>{_FIRST_OPEN}</template><details open name="faq"><summary>Leave</summary>{LINK}'
        "</details>",
    ],
    ids=[
        "the first open details of a name",
        "a name in another case",
        "an empty name, which groups none",
        "no name",
        "after one in a template, no part of the page",
    ],
)
def test_the_unsubscribe_check_counts_a_link_in_an_open_details_its_accordion_keeps_open(html):
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is True


@pytest.mark.parametrize(
    "html",
    [
        f"<div><option>{LINK}</option></div>",
        f"<option>Leave {LINK} now</option>",
        f'<div style="display:table-column">{LINK}</div>',
        f'<span style="display: Table-Column-Group">{LINK}</span>',
        f"<div contenteditable>{LINK}</div>",
        f'<div contenteditable="TRUE">{LINK}</div>',
        f'<div contenteditable="plaintext-only"><p>{LINK}</p></div>',
        f'<a contenteditable href="{ADDRESS}">Unsubscribe</a>',
        f'<div contenteditable><a href="{ADDRESS}"><span contenteditable="false">Unsubscribe</span></a>'
        "</div>",
        f'<div style="-webkit-user-modify: read-write">{LINK}</div>',
        f'<div contenteditable="false" style="-webkit-user-modify:read-write-plaintext-only">{LINK}</div>',
    ],
    ids=[
        "an option outside a select",
        "an option's words around it",
        "display table-column",
        "display table-column-group",
        "contenteditable",
        "contenteditable true in capitals",
        "contenteditable plaintext-only",
        "an editable link",
        "an editable link around a part that is not",
        "a style making it editable",
        "a style making it editable over the attribute",
    ],
)
def test_the_unsubscribe_check_counts_no_link_chromium_never_draws_or_a_click_edits(html):
    # Chromium draws an <option>'s label, never its elements, and no box for a table's column; a
    # click on an editable link places a caret, and follows nothing.
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is False


@pytest.mark.parametrize(
    "html",
    [
        f'<div contenteditable><span contenteditable="false">{LINK}</span></div>',
        f'<div contenteditable><a contenteditable="false" href="{ADDRESS}">Unsubscribe</a></div>',
        f'<div contenteditable="yes">{LINK}</div>',
        f'<div contenteditable=" true">{LINK}</div>',
        f'<a href="{ADDRESS}"><span contenteditable>Unsubscribe</span></a>',
        f'<div contenteditable style="-webkit-user-modify:read-only">{LINK}</div>',
        f'<div style="visibility:hidden"><p style="visibility:initial">{LINK}</p></div>',
        f'<div style="visibility:hidden"><a style="VISIBILITY: Initial" href="{ADDRESS}">Unsubscribe</a>'
        "</div>",
    ],
    ids=[
        "inside a part of an editable block that is not",
        "a link that is not, inside an editable block",
        "contenteditable of a value it does not know",
        "contenteditable with a blank",
        "a link holding an editable part",
        "a style making an editable block read-only",
        "visibility initial inside a hidden block",
        "a link's own visibility initial",
    ],
)
def test_the_unsubscribe_check_counts_a_link_a_click_follows_and_visibility_initial_shows(html):
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is True


def _table(columns: str, rows: str) -> str:
    return f"<p>Hi</p><table>{columns}{rows}</table><p>Bye</p>"


@pytest.mark.parametrize(
    ("columns", "rows"),
    [
        ('<colgroup><col style="visibility:collapse"></colgroup>', f"<tr><td>{LINK}</td></tr>"),
        ('<col style="visibility:collapse">', f"<tr><td>{LINK}</td><td>Bye</td></tr>"),
        ('<col><col style="visibility: COLLAPSE">', f"<tr><td>Hi</td><td>{LINK}</td></tr>"),
        ('<col span="2" style="visibility:collapse">', f"<tr><td>Hi</td><td>{LINK}</td></tr>"),
        (
            '<colgroup span="2" style="visibility:collapse"></colgroup>',
            f"<tr><td>Hi</td><td>{LINK}</td></tr>",
        ),
        ('<colgroup style="visibility:collapse"><col></colgroup>', f"<tr><td>{LINK}</td></tr>"),
        ('<col style="visibility:collapse" span="2">', f'<tr><td colspan="2">{LINK}</td></tr>'),
        ('<col style="visibility:collapse">', f'<tr><td style="visibility:visible">{LINK}</td></tr>'),
        (
            '<col style="display:none"><col style="visibility:collapse">',
            f"<tr><td>{LINK}</td><td>x</td></tr>",
        ),
        (
            '<col><col style="visibility:collapse">',
            f'<tr><td rowspan="2">Hi</td><td>x</td></tr><tr><td>{LINK}</td></tr>',
        ),
        (
            '<col><col style="visibility:collapse">',
            f'<tr><td rowspan="0">Hi</td><td>x</td></tr><tr><td>x</td></tr><tr><td>{LINK}</td></tr>',
        ),
        ('<col style="visibility:collapse"><col>', f'<tr><td colspan="2">{LINK}</td></tr>'),
        (
            '<colgroup span="2" style="visibility:collapse"><col hidden></colgroup>',
            f"<tr><td>x</td><td>{LINK}</td></tr>",
        ),
        (
            '<col hidden><colgroup style="visibility:collapse"></colgroup>',
            f"<tr><td>x</td><td>{LINK}</td></tr>",
        ),
        ("", f'<tr style="visibility:collapse"><td style="visibility:visible">{LINK}</td></tr>'),
        (
            "",
            f'<tbody style="visibility:collapse"><tr style="visibility:visible"><td>{LINK}</td></tr></tbody>',
        ),
    ],
    ids=[
        "a collapsed col in a colgroup",
        "a collapsed col",
        "the second column",
        "a col spanning two",
        "a colgroup spanning two",
        "a col inheriting its colgroup's",
        "a cell spanning collapsed columns alone",
        "a visible cell in a collapsed column",
        "after a col that is no column",
        "moved by a rowspan above",
        "moved by a rowspan to the group's end",
        "spanning past the last column a cell starts in",
        "a colgroup whose cols are no columns, spanning its own",
        "after a group of cols that are no columns, which is one column",
        "a collapsed row",
        "a collapsed row group",
    ],
)
def test_the_unsubscribe_check_counts_no_link_in_a_collapsed_table_column_or_row(columns, rows):
    assert html_link_shown(_table(columns, rows), ADDRESS) is False


@pytest.mark.parametrize(
    ("columns", "rows"),
    [
        ('<colgroup><col style="visibility:collapse"></colgroup>', f"<tr><td>Hi</td><td>{LINK}</td></tr>"),
        ('<col><col style="visibility:collapse">', f'<tr><td colspan="2">{LINK}</td></tr>'),
        (
            '<colgroup span="2" style="visibility:collapse"><col></colgroup>',
            f"<tr><td>x</td><td>{LINK}</td></tr>",
        ),
        (
            '<colgroup style="visibility:collapse"><col style="visibility:visible"></colgroup>',
            f"<tr><td>{LINK}</td></tr>",
        ),
        ('<col style="visibility:hidden">', f"<tr><td>{LINK}</td></tr>"),
        ('<col style="visibility:collapse" span="0">', f"<tr><td>x</td><td>{LINK}</td></tr>"),
        (
            '<col style="display:none"><col style="visibility:collapse">',
            f"<tr><td>x</td><td>{LINK}</td></tr>",
        ),
        ('<col><col style="visibility:collapse">', f"<tr><td>x</td><td>y</td></tr><tr><td>{LINK}</td></tr>"),
        ('<col style="visibility:collapse">', f"<caption>{LINK}</caption><tr><td>x</td></tr>"),
        ('<col style="visibility:collapse"><col><col>', f'<tr><td colspan="2">{LINK}</td><td>x</td></tr>'),
        (
            '<col hidden><colgroup style="visibility:collapse"></colgroup>',
            f"<tr><td>{LINK}</td><td>x</td></tr>",
        ),
    ],
    ids=[
        "another column",
        "a cell spanning a column that shows",
        "a colgroup spanning its cols alone",
        "a visible col in a collapsed colgroup",
        "a hidden col, which hides no cell",
        "a span of 0, which is 1",
        "a col that is no column, the next one collapsed",
        "a row with no rowspan above",
        "a caption",
        "spanning a column no cell starts in before one that does",
        "a group of cols that are no columns, which is one column",
    ],
)
def test_the_unsubscribe_check_counts_a_link_in_a_table_column_that_shows(columns, rows):
    assert html_link_shown(_table(columns, rows), ADDRESS) is True


def _lines_run_in(module, function, *args) -> int:
    """Return how many lines of a module's code function(*args) runs (a count of loop steps too,
    not a time: the same on any machine)."""
    lines = 0

    def count(frame, event, arg):
        nonlocal lines
        lines += event == "line"
        return count

    sys.settrace(lambda frame, event, arg: count if frame.f_code.co_filename == module.__file__ else None)
    try:
        function(*args)
    finally:
        sys.settrace(None)
    return lines


def test_laying_out_a_tables_collapsed_columns_takes_steps_in_line_with_its_size():
    # Each row a cell spanning all rows below, each pushed right of those before it: a staircase a
    # grid walks in rows × rows steps (9 million lines here). Past a budget in line with the
    # table's size, the cells left count as hidden.
    rows = "".join(f'<tr><td rowspan="60000">{n}</td></tr>' for n in range(3000))
    html = _table('<col span="1000" style="visibility:collapse">', rows + f"<tr><td>{LINK}</td></tr>")
    assert _lines_run_in(html_table, html_link_shown, html, ADDRESS) <= 200 * 3000


#: What draws a white band over the line above it, past a 1-pixel <svg>'s box where its overflow
#: lets it (Chromium paints over the link before it).
_BAND = '<rect x="-100" y="-60" width="400" height="60" fill="white"/>'
#: An image as large as a page.
_PAGE = '<img src="cover.png" width="2000" height="2000">'


@pytest.mark.parametrize(
    "html",
    [
        f'{LINK}<svg width="1" height="1" overflow="visible">{_BAND}</svg>',
        f'{LINK}<svg width="1" height="1" style="overflow:visible">{_BAND}</svg>',
        f'{LINK}<svg width="1" height="1" style="overflow:clip; overflow-clip-margin:60px">{_BAND}</svg>',
        f'{LINK}<svg width="1" height="1" overflow="visible"><a href="https://other.example/">{_BAND}</a></svg>',
        f'{LINK}<div inert><svg width="1" height="1" overflow="visible">{_BAND}</svg></div>',
        f'{LINK}<div hidden style="display:block"><svg width="1" height="1" overflow="visible">{_BAND}</svg>'
        "</div>",
        f"<dialog open>{_PAGE}</dialog>{LINK}",
        f'<dialog style="display:block">{_PAGE}</dialog>{LINK}',
        f'<div popover style="display:block">{_PAGE}</div>{LINK}',
        f'<marquee scrolldelay="999999999" truespeed>{LINK}</marquee>',
        f'<marquee loop="1">{LINK}</marquee>',
        f'<p>{LINK}</p><math><mpadded voffset="40px">'
        '<mspace width="400px" height="30px" mathbackground="white"/></mpadded></math>',
        f'<p>{LINK}</p><math><mpadded height="0" depth="0">'
        '<mspace width="400px" height="60px"/></mpadded></math>',
        f'<p>{LINK}</p><math mathsize="2000%"><mi>x</mi></math>',
    ],
    ids=[
        "an svg whose overflow is visible",
        "an svg whose style's overflow is visible",
        "an svg whose clip has a margin",
        "an svg drawing a link of its own past its box",
        "such an svg in an inert block",
        "such an svg in a hidden block a style shows",
        "an open dialog before it",
        "a dialog a style shows",
        "a popover a style shows",
        "in a marquee that waits",
        "in a marquee that scrolls once",
        "mathml moved by voffset",
        "mathml drawing past a size of 0",
        "mathml sized large",
    ],
)
def test_the_unsubscribe_check_counts_no_link_beside_what_may_paint_over_it(html):
    # Chromium paints each of them over the link or takes its clicks (the user agent's stylesheet
    # places a <dialog> or a popover over the page, SVG and MathML draw outside their boxes), or
    # keeps it out of sight.
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is False


@pytest.mark.parametrize(
    "html",
    [
        f'{LINK}<svg width="1" height="1" overflow=" Auto ">{_BAND}</svg>',
        f'{LINK}<svg width="1" height="1" style="overflow: hidden visible">{_BAND}</svg>',
        f'{LINK}<svg width="1" height="1" style="overflow-y:hidden; overflow-x:visible">{_BAND}</svg>',
        f"{LINK}<p><dialog open>{_PAGE}</dialog></p>",
        f"<dialog open>{LINK}</dialog>",
    ],
    ids=[
        "an svg whose overflow is auto",
        "an svg whose style's overflow is visible across",
        "an svg whose style's overflow-x is visible",
        "an open dialog after it",
        "in an open dialog",
    ],
)
def test_the_unsubscribe_check_counts_no_link_beside_a_dialog_or_an_unclipped_svg_wherever_it_lies(html):
    # Chromium clips an <svg> whose overflow is `auto` today, and places a <dialog> where it is
    # written, over what follows: the check, an allow-list, weighs neither (such markup has no
    # place in an email's footer).
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is False


@pytest.mark.parametrize(
    "html",
    [
        f'{LINK}<svg width="1" height="1">{_BAND}</svg>',
        f'{LINK}<svg width="1" height="1" overflow="HIDDEN">{_BAND}</svg>',
        f'{LINK}<svg width="1" height="1" style="overflow: scroll">{_BAND}</svg>',
        f'{LINK}<div hidden><svg width="1" height="1" overflow="visible">{_BAND}</svg></div>',
        f'{LINK}<div style="display:none"><dialog open>{_PAGE}</dialog></div>',
        f"{LINK}<dialog>{_PAGE}</dialog>",
        f"{LINK}<template><dialog open>{_PAGE}</dialog></template>",
        f"{LINK}<math><mfrac><mi>x</mi><mn>2</mn></mfrac></math>",
    ],
    ids=[
        "an svg clipped as it is by default",
        "an svg whose overflow is hidden",
        "an svg whose style's overflow scrolls",
        "an svg whose overflow is visible, hidden",
        "an open dialog a style hides",
        "a closed dialog",
        "an open dialog in a template",
        "mathml laid out as it is",
    ],
)
def test_the_unsubscribe_check_counts_a_link_beside_what_draws_inside_its_own_box(html):
    assert html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS) is True
