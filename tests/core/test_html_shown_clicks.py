"""What of an unsubscribe link a click reaches, as the unsubscribe check counts it (core.html_shown):
text that draws, and an image's alt text, where nothing inside the link takes the click first.
Each case as Chromium draws it and follows it (or a reader's client that keeps to HTML's rules)."""

import pytest

from core.html import html_link_shown
from core.text import text_draws
from tests.core.test_html_shown import _python_calls

ADDRESS = "https://campanile.invalid/unsubscribe-check"
FORM = '<form action="https://shop.example/subscribe">'
#: An image map whose area takes every click on an image that names it.
MAP = '<map name="m"><area shape="default" href="https://shop.example/"></map>'


def _shown(html: str) -> bool:
    return html_link_shown(f"<p>Hi</p>{html}<p>Bye</p>", ADDRESS)


@pytest.mark.parametrize(
    "char",
    ["\ufffc", "\ufff9", "\ufffa", "\ufffb", "\u180e", "\U0001d173", "\U000e0001", "\u115f", "\u3164"],
    ids=[
        "object replacement",
        "interlinear anchor",
        "interlinear separator",
        "interlinear terminator",
        "mongolian vowel separator",
        "musical begin beam",
        "language tag",
        "hangul choseong filler",
        "hangul filler",
    ],
)
def test_a_link_whose_only_text_chromium_draws_with_no_ink_or_width_is_no_link_shown(char):
    assert text_draws(char) is False
    assert _shown(f'<a href="{ADDRESS}">{char}</a>') is False
    assert _shown(f'<a href="{ADDRESS}"><img alt="{char}"></a>') is False


def test_the_object_replacement_character_beside_a_word_leaves_the_link_shown():
    assert text_draws("\ufffcx") is True
    assert _shown(f'<a href="{ADDRESS}">\ufffcUnsubscribe</a>') is True


@pytest.mark.parametrize(
    "html",
    [
        f'<a href="{ADDRESS}"><label>Unsubscribe <input type="checkbox"></label></a>',
        f'<a href="{ADDRESS}"><label><input type="radio"> <b>Unsubscribe</b></label></a>',
        f'<a href="{ADDRESS}"><label>Unsubscribe <input type="checkbox" disabled></label></a>',
        f'<a href="{ADDRESS}"><label for="c">Unsubscribe</label></a><input id="c" type="checkbox">',
        f'<a href="{ADDRESS}"><label for="c">Unsubscribe</label></a><input id="c">',
        f'<a href="{ADDRESS}"><details><summary>Unsubscribe</summary>Why</details></a>',
        f'<a href="{ADDRESS}"><details open><summary><b>Unsubscribe</b></summary></details></a>',
        f'{FORM}<a href="{ADDRESS}"><button>Unsubscribe</button></a></form>',
        f'{FORM}<a href="{ADDRESS}"><button type="reset">Unsubscribe</button></a></form>',
        f'{FORM}<a href="{ADDRESS}"><button type="nonsense">Unsubscribe</button></a></form>',
        f'<form id="f" action="https://shop.example/"></form><a href="{ADDRESS}"><button form="f">'
        "Unsubscribe</button></a>",
        f'<table>{FORM}<tr><td><a href="{ADDRESS}"><button>Unsubscribe</button></a></td></tr></table>',
        f'<a href="{ADDRESS}"><button disabled>Unsubscribe</button></a>',
        f'<fieldset disabled><a href="{ADDRESS}"><button type="button">Unsubscribe</button></a></fieldset>',
        f'<a href="{ADDRESS}"><button type="button">Unsubscribe</button></a>',
        f'<a href="{ADDRESS}"><img src="leave.png" usemap="#m"></a>{MAP}',
        f'<a href="{ADDRESS}"><img alt="Unsubscribe" usemap="#m"></a>{MAP}',
        f'<a href="{ADDRESS}"><img src="leave.png" usemap="#m"></a><map id="m"><area shape="default"></map>',
        f'{MAP.replace("<area", "<div><area")}<a href="{ADDRESS}"><img src="leave.png" usemap="#m"></a>',
    ],
    ids=[
        "a label holding a checkbox, which it ticks",
        "a label holding a radio button",
        "a label holding a disabled checkbox, which takes the click and does nothing",
        "a label for a checkbox after the link",
        "a label for a text field after the link, which it focuses",
        "a details' summary, which opens it",
        "an open details' summary, which closes it",
        "a form's button, which submits it",
        "a form's reset button",
        "a form's button of a type it does not know, which submits it",
        "a button of a form it names",
        "a button of a form a table moved out of its way",
        "a disabled button",
        "a button a disabled fieldset disables",
        "a button of no form, through which html's rules follow no link (chromium does)",
        "an image whose map's area takes the click",
        "an image's alt text whose map's area takes the click",
        "an image whose map, named by its id, has an area with no href",
        "an image whose map, written before it, holds an area deeper in",
    ],
)
def test_the_unsubscribe_check_counts_no_link_whose_click_something_inside_it_takes(html):
    # Chromium ticks the box, toggles the details, submits the form or follows the area: the
    # unsubscribe link is never followed.
    assert _shown(html) is False


@pytest.mark.parametrize(
    "html",
    [
        f'<a href="{ADDRESS}"><label>Unsubscribe</label></a>',
        f'<a href="{ADDRESS}"><label>Unsubscribe <input type="hidden"></label></a>',
        f'<a href="{ADDRESS}"><label for="none">Unsubscribe</label></a>',
        f'<a href="{ADDRESS}"><label for="none">Unsubscribe <input type="checkbox"></label></a>',
        f'<a href="{ADDRESS}"><label for="c">Unsubscribe</label></a><div id="c"></div>'
        '<input id="c" type="checkbox">',
        f'<a href="{ADDRESS}"><summary>Unsubscribe</summary></a>',
        f'<a href="{ADDRESS}"><details open><summary>Why</summary><summary>Unsubscribe</summary>'
        "</details></a>",
        f'<a href="{ADDRESS}"><details open><summary>Why</summary><p>Unsubscribe</p></details></a>',
        f'<label><a href="{ADDRESS}">Unsubscribe</a> <input type="checkbox"></label>',
        f'{FORM}<button><a href="{ADDRESS}">Unsubscribe</a></button></form>',
        f'<a href="{ADDRESS}"><img src="leave.png" usemap="#m"></a><map name="m"></map>',
        f'<a href="{ADDRESS}"><img src="leave.png" usemap="#other"></a>{MAP}',
        f'<a href="{ADDRESS}"><img src="leave.png" usemap="#m"></a>',
    ],
    ids=[
        "a label with no control",
        "a label holding a hidden input, which no label labels",
        "a label for an id no element has",
        "a label for an id no element has, holding a checkbox it does not label",
        "a label for an id whose first element is no control",
        "a summary outside a details",
        "an open details' second summary",
        "an open details' content",
        "a link in a label, which leaves a click on it to the link",
        "a link in a button",
        "an image whose map has no area",
        "an image naming another map",
        "an image naming no map there is",
    ],
)
def test_the_unsubscribe_check_counts_a_link_whose_click_nothing_inside_it_takes(html):
    assert _shown(html) is True


@pytest.mark.parametrize(
    "image",
    [
        '<img alt="Unsubscribe">',
        '<img src="" alt="Unsubscribe">',
        '<img src=" " alt="Unsubscribe" width="80" height="20">',
        '<img alt="&#8203;Unsubscribe">',
    ],
    ids=["no src", "an empty src", "a blank src, sized", "a word after a zero-width space"],
)
def test_the_unsubscribe_check_counts_an_image_link_with_no_src_by_the_alt_text_chromium_draws(image):
    assert _shown(f'<a href="{ADDRESS}">{image}</a>') is True


@pytest.mark.parametrize(
    "image",
    [
        "<img>",
        '<img alt=" ">',
        '<img alt="&#8203;&shy;">',
        '<img alt="Unsubscribe" width="0">',
        '<img alt="Unsubscribe" style="height: 0px">',
        '<img alt="Unsubscribe" style="visibility: hidden">',
        '<img alt="Unsubscribe" hidden>',
    ],
    ids=[
        "no alt text",
        "a blank alt text",
        "alt text that draws nothing",
        "alt text sized 0 wide",
        "alt text a style sizes 0 high",
        "alt text hidden by a style",
        "alt text of a hidden image",
    ],
)
def test_the_unsubscribe_check_counts_no_image_link_with_no_src_whose_alt_text_shows_nothing(image):
    # Chromium draws a blank or zero-width alt text as a broken image's icon, or nothing; an image
    # sized 0 in a document with no doctype draws nothing at all.
    assert _shown(f'<a href="{ADDRESS}">{image}</a>') is False


@pytest.mark.parametrize(
    "html",
    [
        f'<a href="{ADDRESS}">' + "<label>" * 2000 + "Unsubscribe" + '<input type="checkbox">' * 200,
        f'<a href="{ADDRESS}">' + "<div>" * 2000 + '<img src="leave.png" usemap="#m">' * 200 + MAP,
    ],
    ids=["labels nested deep", "images naming a map, deep"],
)
def test_the_unsubscribe_check_reads_what_takes_clicks_in_one_pass_however_deep_it_nests(html):
    # Looking for each label's control, or each image's map, through the document would take its
    # size times theirs (400,000 steps); it is read once, when the first is met. Fifteen Python
    # calls an element and text is room enough, inside a link as here.
    nodes = 2000 + 200 * 2 + 10
    assert _python_calls(15 * nodes, html_link_shown, html, ADDRESS) <= 15 * nodes
    assert html_link_shown(html, ADDRESS) is False
