"""An inline style read as CSS and Chromium read it (core.css): CSS's own blanks, ASCII digits and
case, escapes inside the word they are in, and only the values Chromium takes."""

import random
import re

import pytest

from core.css import (
    css_length,
    css_overflow_clips,
    display_block,
    style_display,
    style_displayed,
    style_editable,
    style_hides,
    style_overflow_shown,
    style_transparent,
    style_visibility,
)


@pytest.mark.parametrize(
    "style",
    [
        "display:none; display:inline\\a0",
        "display:none; display:inline\u00a0",
        "display:none; display:inline\u3000",
        "display:none; display:inline\u2028",
        "display:inline !important\\a0; display:none",
        "display:inline !important\u00a0; display:none",
        "display:none; display:bloc\u212a",
    ],
    ids=[
        "an escaped no-break space",
        "a no-break space",
        "an ideographic space",
        "a line separator",
        "an escaped no-break space after important",
        "a no-break space after important",
        "a kelvin sign for a k",
    ],
)
def test_a_value_ending_in_a_unicode_blank_is_none_css_takes_so_an_earlier_display_none_stands(style):
    # Chromium: `inline\a0` is one word, no `display` keyword: the declaration is dropped.
    assert style_hides(style) is True


@pytest.mark.parametrize(
    "style",
    [
        "opacity:0; opacity:\u0661",
        "opacity:0; opacity:\uff11",
        "opacity:0; opacity:1.",
        "opacity:0; opacity:\\31",
    ],
    ids=["an arabic-indic one", "a full-width one", "a number ending in a point", "an escaped digit"],
)
def test_only_an_ascii_number_as_css_writes_it_is_an_opacity(style):
    assert style_transparent(style) is True


@pytest.mark.parametrize(
    "style",
    ["display:none\u00a0", "display:none\\a0", "display:none\\20", "display:\u00a0none", "display\\20:none"],
)
def test_a_display_none_a_unicode_or_escaped_blank_spoils_hides_nothing(style):
    assert style_hides(style) is False
    assert style_display(style) == ""


@pytest.mark.parametrize(
    "style",
    [
        "display:block\\b",
        "display:block\x0b",
        *(f"display:block{chr(code)}" for code in range(0x1C, 0x20)),
        "display:block\\0",
        "display:block\x00",
    ],
)
def test_a_control_character_in_a_display_value_makes_the_declaration_invalid(style):
    assert style_display(style) == ""
    assert style_display(f"display:inline;{style}") == "inline"


def test_the_display_read_is_only_ever_keywords_whatever_the_style_holds():
    # What the text part writes back for its layout: anything else could make lxml refuse it.
    alphabet = [
        "display",
        ":",
        ";",
        " ",
        "\\",
        "b",
        "0",
        "block",
        "flow",
        "!important",
        "\x0b",
        "\x1f",
        "\u00a0",
    ]
    alphabet += [
        "'",
        '"',
        "(",
        ")",
        "{",
        "}",
        "/*",
        "*/",
        "none",
        "inline",
        "list-item",
        "\ufffe",
        "var(--x)",
    ]
    chance = random.Random(7)
    for _ in range(3000):
        style = "".join(chance.choice(alphabet) for _ in range(chance.randrange(1, 14)))
        assert re.fullmatch(r"[a-z -]*", style_display(style)), style


@pytest.mark.parametrize(
    ("style", "important"),
    [
        ("display:block !\\69mportant; display:none", True),
        ("display:block \\!important; display:none", False),
        ("display:block !important !important; display:none", False),
        ("display:block !/**/important; display:none", True),
    ],
)
def test_important_is_read_from_csss_tokens(style, important):
    assert style_hides(style) is not important


@pytest.mark.parametrize(
    ("style", "display"),
    [
        ("display:block/**/flow", "block flow"),
        ("display:INLINE list-item flow-root", "inline list-item flow-root"),
        ("display:inline math", "inline math"),
        ("display:\\62 lock", "block"),
        ("display:-webkit-flex", "-webkit-flex"),
        ("display:run-in", ""),
        ("display:ruby-base", ""),
        ("display:block block", ""),
        ("display:table list-item", ""),
        ("display:none none", ""),
        ("display:'block'", ""),
        ("display:none }", ""),
    ],
)
def test_display_takes_only_the_keywords_and_combinations_chromium_takes(style, display):
    assert style_display(style) == display


@pytest.mark.parametrize(
    ("style", "hides"),
    [
        ("content-visibility:hidden; display:block", True),
        ("content-visibility:hidden; content-visibility:auto", False),
        ("x:url(a'b;display:block);display:none", True),
        ("x:(];display:none", False),
        ("@media all{} display:none", True),
        (".a{} display:none", False),
        ("display:no\\\ne", False),
    ],
)
def test_declarations_are_split_and_read_as_chromium_does(style, hides):
    assert style_hides(style) is hides


def test_a_unit_or_a_percentage_is_read_from_csss_tokens():
    assert css_length("1\\70x") == 1
    assert css_length("5\\%") is None  # An escaped `%` is a unit, no percentage.
    assert css_length(" 0\u00a0") is None
    assert css_length("\u0660") is None
    assert style_visibility("visibility:hidden; visibility:visible\\a0") == "hidden"


@pytest.mark.parametrize(
    ("style", "visibility"),
    [
        ("visibility:initial", "visible"),
        ("VISIBILITY: Initial", "visible"),
        ("visibility:inherit", ""),
        ("visibility:unset", ""),
        ("visibility:revert", ""),
        ("visibility:revert-layer", ""),
    ],
)
def test_visibility_initial_is_visible_and_the_other_css_wide_keywords_leave_it_to_the_parent(
    style, visibility
):
    # Chromium: `initial` shows an element inside a hidden one; `revert` and `unset` inherit.
    assert style_visibility(style) == visibility


@pytest.mark.parametrize(
    "style", ["display:table-column", "display: Table-Column-Group", "display:block;display:table-column"]
)
def test_a_table_columns_display_hides_its_element_and_all_it_holds(style):
    # Chromium draws no box for a column: nothing it holds is laid out.
    assert style_hides(style) is True


@pytest.mark.parametrize(
    ("style", "editable"),
    [
        ("-webkit-user-modify:read-write", True),
        ("-WEBKIT-USER-MODIFY: Read-Write-Plaintext-Only", True),
        ("-webkit-user-modify:read-only", False),
        ("-webkit-user-modify:initial", False),
        ("-webkit-user-modify:var(--m)", True),
        ("-webkit-user-modify:inherit", None),
        ("-webkit-user-modify:write", None),
        ("user-modify:read-write", None),
        ("color:red", None),
    ],
)
def test_an_inline_style_makes_its_elements_content_editable_as_chromium_reads_it(style, editable):
    assert style_editable(style) is editable


@pytest.mark.parametrize(
    ("style", "block"),
    [
        ("display:block", True),
        ("display:flex", True),
        ("display:grid", True),
        ("display:table", True),
        ("display:list-item", True),
        ("display:flow-root", True),
        ("display:-webkit-box", True),
        ("display:table-cell", True),
        ("display:block math", True),
        ("display:inline", False),
        ("display:inline-block", False),
        ("display:inline flex", False),
        ("display:inline list-item", False),
        ("display:ruby", False),
        ("display:math", False),
        ("display:contents", False),
        ("display:initial", False),
    ],
)
def test_a_display_lays_its_element_out_as_a_block_or_in_the_line(style, block):
    assert display_block(style_display(style)) is block


@pytest.mark.parametrize(
    ("style", "shown"),
    [
        ("overflow:hidden", False),
        ("OVERFLOW: Clip; overflow-y: scroll", False),
        ("overflow: hidden scroll", False),
        ("color:red", False),
        ("overflow:visible", True),
        ("overflow:auto", True),
        ("overflow:hidden visible", True),
        ("overflow-x:visible; overflow:hidden", True),
        ("overflow:visible !important; overflow:hidden", True),
        ("overflow:var(--o)", True),
        ("overflow:hidden; overflow-clip-margin:20px", True),
        ("overflow-clip-margin-top:0", True),
    ],
)
def test_an_overflow_declared_other_than_clipping_may_let_its_element_draw_outside_its_box(style, shown):
    # Read with caution (an allow-list): any declaration that does not clip counts, wherever it is.
    assert style_overflow_shown(style) is shown


@pytest.mark.parametrize(
    ("value", "clips"),
    [(" Hidden ", True), ("scroll", True), ("CLIP", True), ("visible", False), ("auto", False), ("", False)],
)
def test_an_svg_overflow_attribute_clips_only_when_hidden_scroll_or_clip(value, clips):
    assert css_overflow_clips(value) is clips


@pytest.mark.parametrize(
    ("style", "displayed"),
    [
        ("display:block", True),
        ("display: inline flex", True),
        ("content-visibility:visible", True),
        ("display:none", False),
        ("color:red", False),
        ("display:blok", False),
    ],
)
def test_an_inline_display_shows_again_what_the_user_agent_hides(style, displayed):
    assert style_displayed(style) is displayed
