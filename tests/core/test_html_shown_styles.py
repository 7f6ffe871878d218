"""What the unsubscribe check (core.html_shown) and the text part made from HTML make of styles that
paint a link away or move it out of sight (a filter's opacity, transforms, masks, size containment,
line clamps), and of a link that opens into a frame of the email. Each case as Chromium draws it
and follows it."""

import pytest

from campaigns.text_part import text_part_from_html
from core.css import style_transparent, style_unjudged
from core.html import html_link_shown

ADDRESS = "https://campanile.invalid/unsubscribe-check"
LINK = f'<a href="{ADDRESS}">Unsubscribe</a>'
#: A frame the reader never sees.
FRAME = '<iframe name="f" hidden></iframe>'


def _shown(html: str) -> bool:
    return html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS)


@pytest.mark.parametrize(
    "html",
    [
        f'<a href="{ADDRESS}" style="filter:opacity(0)">Unsubscribe</a>',
        f'<div style="filter: OPACITY(0%)"><a style="filter:none;opacity:1" href="{ADDRESS}">Leave</a></div>',
        f'<div style="-webkit-filter:opacity(0)">{LINK}</div>',
        f'<div style="filter:opacity(1) opacity(/**/0.0)">{LINK}</div>',
        f'<div style="filter:opacity(0) !important; filter:none">{LINK}</div>',
        f'<div style="filter:opacity(0); filter:opacity(-1)">{LINK}</div>',
        f'<div style="filter:opacity(0); filter:blur(1%)">{LINK}</div>',
        f'<div style="filter:opacity(var(--gone))">{LINK}</div>',
        f'<div style="mask-image:linear-gradient(transparent,transparent)">{LINK}</div>',
        f'<div style="-webkit-mask-image:linear-gradient(transparent,transparent)">{LINK}</div>',
        f'<div style="mask:linear-gradient(transparent,transparent)">{LINK}</div>',
        f'<div style="-webkit-mask:linear-gradient(transparent,transparent)">{LINK}</div>',
        f'<div style="-webkit-mask-box-image:linear-gradient(transparent,transparent)">{LINK}</div>',
        f'<div style="filter:url(#gone)">{LINK}</div>',
    ],
    ids=[
        "filter opacity 0 on the link",
        "filter opacity 0% on an ancestor the link cannot undo",
        "chromium's alias -webkit-filter",
        "a later opacity of 0 in the filter's list",
        "an important filter before a later none",
        "a later filter chromium refuses for its negative opacity",
        "a later blur chromium refuses for its percentage",
        "an opacity only the browser computes",
        "mask-image",
        "-webkit-mask-image",
        "mask",
        "-webkit-mask",
        "-webkit-mask-box-image",
        "an svg filter, which may paint it away",
    ],
)
def test_the_unsubscribe_check_counts_no_link_a_filter_or_mask_paints_away(html):
    assert _shown(html) is False


@pytest.mark.parametrize(
    "html",
    [
        f'<div style="display:inline-block;transform:rotateX(90deg)">{LINK}</div>',
        f'<div style="display:inline-block;transform:rotateY(180deg);backface-visibility:hidden">{LINK}'
        "</div>",
        f'<div style="display:inline-block;scale:0">{LINK}</div>',
        f'<div style="rotate:x 90deg">{LINK}</div>',
        f'<div style="translate:-2000px">{LINK}</div>',
        f'<div style="transform:none; transform:scale(0)">{LINK}</div>',
        f'<div style="contain:strict">{LINK}</div>',
        f'<div style="contain:size layout;overflow:hidden">{LINK}</div>',
        f'<div style="display:inline-block;contain:inline-size;overflow:hidden">{LINK}</div>',
        f'<div style="container-type:size;overflow:hidden">{LINK}</div>',
        f'<div style="container:box / size;overflow:hidden">{LINK}</div>',
        f'<div style="display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:1;overflow:hidden">'
        f"Line one<br>{LINK}</div>",
        f'<div style="-webkit-line-clamp:1;overflow:hidden">Line one<br>{LINK}</div>',
        f'<div style="line-clamp:1;overflow:hidden">Line one<br>{LINK}</div>',
    ],
    ids=[
        "turned edge-on",
        "turned away with its back hidden",
        "scaled to nothing",
        "rotated edge-on",
        "translated out of sight",
        "a transform after none",
        "strict containment with no size",
        "size containment with no size",
        "inline-size containment in an inline block",
        "a size container",
        "a size container by the shorthand",
        "a line clamp cutting the link's line",
        "a line clamp outside a webkit box, taken as cutting there too",
        "the standard line clamp, taken as cutting there too",
    ],
)
def test_the_unsubscribe_check_counts_no_link_a_transform_containment_or_line_clamp_may_hide(html):
    assert _shown(html) is False


@pytest.mark.parametrize(
    "html",
    [
        f'<div style="filter:opacity(0.5) drop-shadow(1px 1px 2px red) blur(0) hue-rotate(0)">{LINK}</div>',
        f'<div style="filter:opacity(0); filter:opacity()">{LINK}</div>',
        f'<div style="filter:opacity(-1)">{LINK}</div>',
        f'<div style="transform:none;scale:1 100%;rotate:z 0deg;translate:0 0%;mask:none">{LINK}</div>',
        f'<div style="contain:content;container-type:normal;-webkit-line-clamp:none">{LINK}</div>',
        f'<div style="filter:inherit;transform:initial">{LINK}</div>',
    ],
    ids=[
        "filters that leave it drawn",
        "a later opacity of none given, which is 1",
        "a negative opacity chromium refuses",
        "identity transforms and no mask",
        "containment of no size and no clamp",
        "css-wide keywords",
    ],
)
def test_the_unsubscribe_check_counts_a_link_filters_and_transforms_leave_in_sight(html):
    assert _shown(html) is True


@pytest.mark.parametrize(
    "style",
    [
        "filter:opacity(0)",
        "filter:opacity(0%)",
        "-webkit-filter:blur(2px) opacity(0)",
        "filter:opacity(\\30)",
    ],
)
def test_a_filters_opacity_of_zero_is_transparent_as_opacity_zero(style):
    # `opacity(\30)`: an escaped digit is a word, no number, so the filter is none Chromium takes.
    assert style_transparent(style) is (style != "filter:opacity(\\30)")
    # Transparent, not unjudged: but a blur beside it is a fade the check does not judge.
    assert style_unjudged(style) is ("blur" in style)


def test_the_derived_text_part_leaves_out_what_a_filters_opacity_hides():
    html = (
        '<p>Before</p><div style="filter:opacity(0)">Secret <a href="https://hidden.example/leave">Leave</a>'
        '</div><p style="filter:opacity(0.5)">After</p>'
    )
    text = text_part_from_html(html)
    assert "Before" in text
    assert "After" in text
    assert [word for word in ("Secret", "Leave", "hidden.example") if word in text] == []


@pytest.mark.parametrize(
    "html",
    [
        f'{FRAME}<a href="{ADDRESS}" target="f">Unsubscribe</a>',
        f'<a href="{ADDRESS}" target="f">Unsubscribe</a><iframe name="f" width="0" height="0"></iframe>',
        f'<base target="f">{FRAME}{LINK}',
        f'<base target="f">{FRAME}<a href="{ADDRESS}" target="">Unsubscribe</a>',
        f'<base href="https://shop.example/"><base target="f">{FRAME}{LINK}',
        f'<object name="o" data="about:blank" width="0" height="0"></object><a href="{ADDRESS}" target="o">'
        "Unsubscribe</a>",
        f'<embed name="e" src="about:blank" width="0" height="0"><a href="{ADDRESS}" target="e">Leave</a>',
        f'{FRAME}<a href="{ADDRESS}" target=" F ">Unsubscribe</a>',
    ],
    ids=[
        "its target a hidden iframe",
        "its target an iframe sized zero after it",
        "the base target a hidden iframe",
        "an empty target, which takes the base's",
        "the first base giving a target",
        "its target an object sized zero",
        "its target an embed sized zero",
        "a target naming the frame in another case and blanks, taken as naming it",
    ],
)
def test_the_unsubscribe_check_counts_no_link_that_opens_into_a_frame_of_the_email(html):
    assert _shown(html) is False


@pytest.mark.parametrize(
    "html",
    [
        f'<a href="{ADDRESS}" target="_blank">Unsubscribe</a>',
        f'{FRAME}<a href="{ADDRESS}" target="_BLANK">Unsubscribe</a>',
        f'<base target="f">{FRAME}<a href="{ADDRESS}" target="_self">Unsubscribe</a>',
        f'{FRAME}<a href="{ADDRESS}" target="elsewhere">Unsubscribe</a>',
        f'<base target="">{FRAME}<base target="f">{LINK}',
        f'<base target="f">{LINK}',
        f'<template><iframe name="f"></iframe></template><a href="{ADDRESS}" target="f">Unsubscribe</a>',
    ],
    ids=[
        "a new tab",
        "a new tab named in capitals",
        "itself, over the base's frame",
        "a window no frame is named",
        "a first base target that is empty",
        "a base target no frame is named",
        "a frame in a template, no part of the document",
    ],
)
def test_the_unsubscribe_check_counts_a_link_that_opens_where_the_reader_sees_it(html):
    assert _shown(html) is True


@pytest.mark.parametrize(
    ("html", "shown"),
    [
        (f'<a href="{ADDRESS}" style="content:url(data:image/gif;base64,R0lGODlhAQABAAAAACw=)">x</a>', False),
        (f'<div style="content:linear-gradient(white, white)">{LINK}</div>', False),
        (f'<div style="content:url(missing.png)">{LINK}</div>', False),
        (f'<div style="content: image-set(url(a.png) 1x)">{LINK}</div>', False),
        (f'<div style="interactivity: inert">{LINK}</div>', False),
        (f'<div style="content: normal">{LINK}</div>', True),
        (f'<div style="content: none; interactivity: auto">{LINK}</div>', True),
    ],
    ids=[
        "the link's own words drawn over by an image",
        "a gradient drawn instead of all a block holds",
        "a broken image instead of all a block holds",
        "an image set instead of all a block holds",
        "made inert by a style",
        "content as usual",
        "content none and clicks as usual",
    ],
)
def test_the_unsubscribe_check_counts_no_link_whose_ancestor_draws_other_content_or_takes_no_clicks(
    html, shown
):
    assert _shown(html) is shown


@pytest.mark.parametrize(
    ("html", "shown"),
    [
        (f'<a href="{ADDRESS}" style="filter:blur(40px)">Unsubscribe</a>', False),
        (f'<p style="filter:contrast(0) brightness(2)">{LINK}</p>', False),
        (f'<p style="-webkit-filter:invert(50%)">{LINK}</p>', False),
        (f'<p style="filter:brightness()">{LINK}</p>', False),
        (f'<div style="display:inline-block;-webkit-transform:scale(0)">{LINK}</div>', False),
        (f'<div style="-webkit-transform:translateX(-5000px)">{LINK}</div>', False),
        (f'<p style="filter:blur(0px) brightness(100%) contrast(1) invert(0)">{LINK}</p>', True),
    ],
    ids=[
        "blurred away",
        "bleached to white",
        "inverted to grey",
        "a brightness of no amount, taken as fading it",
        "a webkit transform scaling it to nothing",
        "a webkit transform moving it out of sight",
        "filters of the identity",
    ],
)
def test_the_unsubscribe_check_counts_no_link_a_blurring_filter_or_a_webkit_transform_may_hide(html, shown):
    assert _shown(html) is shown


def _reset_inside_hidden(declaration: str) -> str:
    """Return a link made visible inside a hidden block, then given a declaration after that."""
    link = f'<a href="{ADDRESS}" style="visibility:visible;{declaration}">x</a>'
    return f'<div style="visibility:hidden">{link}</div>'


@pytest.mark.parametrize(
    "html",
    [
        _reset_inside_hidden("all:unset"),
        _reset_inside_hidden("ALL:inherit"),
        _reset_inside_hidden("a\\6c l:revert"),
        _reset_inside_hidden("all:var(--x)"),
        f'<div style="visibility:hidden"><p style="visibility:visible;all:unset!important">{LINK}</p></div>',
    ],
    ids=["unset", "inherit in capitals", "an escaped name", "a custom property", "on an ancestor, important"],
)
def test_the_unsubscribe_check_counts_no_link_the_all_shorthand_resets(html):
    assert _shown(html) is False
