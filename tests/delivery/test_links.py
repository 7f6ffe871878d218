import re

import pytest

from core.written_links import WrittenLinks, html_written_links, sentence_trim, text_written_links
from delivery.links import html_track, text_track

BASE = "https://mail.example.com"
PIXEL = f"{BASE}/o/token"


def track(html, **kwargs):
    seen = []

    def click(url):
        seen.append(url)
        return f"{BASE}/c/{len(seen)}"

    options = {"click_url": click, "pixel_url": PIXEL, "keep_prefixes": (f"{BASE}/c/", f"{BASE}/u/")} | kwargs
    return html_track(html, **options), seen


def hrefs(html):
    return re.findall(r'href="([^"]*)"', html)


def test_web_links_go_through_the_redirect_and_the_rest_stay():
    html = (
        '<p><a href="https://shop.example.com/sale?x=1&amp;y=2">Sale</a> '
        '<a href="http://example.org">Old</a> '
        '<a href="mailto:help@example.com">Mail</a> <a href="tel:+3212345">Call</a> '
        '<a href="#top">Top</a> <a href="/relative/page">Relative</a> <a name="anchor">No href</a> '
        f'<a href="{BASE}/u/abc">Unsubscribe</a> <a href="{BASE}/c/already">Tracked</a></p>'
    )
    out, seen = track(html)
    assert seen == ["https://shop.example.com/sale?x=1&y=2", "http://example.org"]
    assert hrefs(out) == [
        f"{BASE}/c/1",
        f"{BASE}/c/2",
        "mailto:help@example.com",
        "tel:+3212345",
        "#top",
        "/relative/page",
        f"{BASE}/u/abc",
        f"{BASE}/c/already",
    ]
    assert out.endswith(
        f'<img src="{PIXEL}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">'
    )


def test_links_in_comments_style_and_script_are_not_touched():
    html = (
        '<!--[if mso]><a href="https://mso.example.com">MSO</a><![endif]-->'
        "<style>a[href='https://style.example.com'] { color: red }</style>"
        "<p><a href='https://real.example.com'>Real</a></p>"
    )
    out, seen = track(html)
    assert seen == ["https://real.example.com"]
    assert '<!--[if mso]><a href="https://mso.example.com">MSO</a><![endif]-->' in out
    assert "a[href='https://style.example.com']" in out


def test_a_whole_document_keeps_its_doctype_and_head_and_gets_the_pixel_in_its_body():
    html = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html><head><meta charset="utf-8"><title>Hi</title></head>'
        '<body><a href="https://example.com">x</a></body></html>'
    )
    out, _ = track(html)
    assert out.startswith("<!DOCTYPE html PUBLIC")
    assert "<title>Hi</title>" in out
    assert re.search(r'<img src="[^"]+/o/token"[^>]*></body>', out)


def test_a_document_after_a_long_comment_is_still_a_whole_document():
    html = (
        "<?xml version='1.0'?>\n<!DOCTYPE html>\n<!-- " + "x" * 3000 + " -->\n"
        '<html lang="en"><head><style>.a{color:red}</style></head>'
        '<body class="b"><p class="a"><a href="https://example.org/z">z</a></p></body></html>'
    )
    out, seen = track(html)
    assert seen == ["https://example.org/z"]
    assert out.startswith(html[: html.index("<html")])  # What comes before <html> is kept as written.
    assert "<style>.a{color:red}</style>" in out
    assert '<body class="b">' in out


@pytest.mark.parametrize(
    ("html", "kept"),
    [
        (
            '<!DOCTYPE html>\n<head><meta name="viewport" content="width=device-width">'
            "<style>p{color:red}</style></head><body><p>x</p></body>",
            ['<meta name="viewport" content="width=device-width">', "<style>p{color:red}</style>", "<body>"],
        ),
        ('<!DOCTYPE html><body style="background:#eee"><p>x</p></body>', ['<body style="background:#eee">']),
        ("<head><title>T</title></head><body class='b'><p>x</p>", ["<title>T</title>", '<body class="b">']),
        ("<!doctype html><p>a</p>", ["<body><p>a</p>"]),
    ],
    ids=["doctype and head", "doctype and body", "head without a doctype", "doctype alone"],
)
def test_a_document_that_leaves_out_its_html_tag_keeps_its_doctype_head_and_body(html, kept):
    # HTML makes the <html> start tag optional (and <head>, <body>): such a source is a whole
    # document all the same, and tracking its opens must not strip its styles or its mode.
    out, _ = track(html)
    doctype = re.match(r"<!doctype html>", html, re.IGNORECASE)
    assert out.startswith(doctype.group(0) if doctype else "<html>")
    for part in kept:
        assert part in out
    assert re.search(r'<img src="[^"]+/o/token"[^>]*></body></html>$', out)


@pytest.mark.parametrize(
    "opening",
    [
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n',
        "\ufeff<!DOCTYPE html>",
        "\u200b\n",
        "\u2060",
    ],
    ids=["xml declaration with an encoding", "byte order mark", "zero-width space", "word joiner"],
)
def test_a_document_opening_with_a_declaration_or_an_invisible_character_is_tracked_whole(opening):
    html = (
        f'{opening}<html lang="de"><head><title>T</title></head>'
        '<body style="margin:0" bgcolor="#ffffff"><a href="https://example.org/z">z</a></body></html>'
    )
    out, seen = track(html)
    assert seen == ["https://example.org/z"]
    assert out.startswith(f'{opening}<html lang="de"><head><title>T</title></head>')
    assert '<body style="margin:0" bgcolor="#ffffff">' in out
    assert PIXEL in out


def test_html_nested_thousands_of_levels_deep_is_tracked_whole_not_cut():
    deep = "<span>" * 3000 + '<p><a href="https://example.org/end">end</a> Postal address</p>'
    out, seen = track(deep)
    assert seen == ["https://example.org/end"]
    assert "Postal address" in out
    assert PIXEL in out


@pytest.mark.parametrize(
    "html",
    [
        "<div>" * 2000 + '<a href="https://example.org/x">x</a>' * 200,
        "<div>" * 2000 + "<svg>" + "<style>s</style>" * 200 + "</svg>",
    ],
    ids=["links", "svg styles"],
)
def test_tracking_deep_html_reads_each_elements_namespace_once_not_once_per_element_below_it(
    monkeypatch, html
):
    import core.html

    asked = 0
    namespace_in = core.html.html_namespace_in

    def counted(*args, **kwargs):
        nonlocal asked
        asked += 1
        return namespace_in(*args, **kwargs)

    monkeypatch.setattr(core.html, "html_namespace_in", counted)
    track(html)

    # Walking up to the root from each of 200 elements 2,000 levels down took 400,000 steps.
    assert asked <= 2 * (2000 + 200 + 5)


@pytest.mark.parametrize(
    "html",
    [
        '<!DOCTYPE html><html><body><p>Hello</p></body></html>\n<p>Footer <a href="https://x.org/u">U</a></p>',
        '<table><tr><td>x</td></tr></table></body></html><p>Footer <a href="https://x.org/u">U</a></p>',
        '<p>Hello</p></body><p>Footer <a href="https://x.org/u">U</a></p>',
    ],
    ids=["after a whole document", "after stray end tags", "after a stray body end"],
)
def test_what_follows_a_closing_body_or_html_is_kept_as_a_browser_keeps_it(html):
    out, seen = track(html)
    assert "Footer" in out
    assert seen == ["https://x.org/u"]


def test_a_link_longer_than_django_redirects_to_is_left_as_it_is():
    too_long = "https://example.org/" + "a" * 16_400
    out, seen = track(f'<a href="{too_long}">x</a> <a href="https://example.org/ok">y</a>')
    assert seen == ["https://example.org/ok"]
    assert too_long in out


def test_unicode_and_very_long_urls_survive():
    long_url = "https://example.com/" + "a" * 5000 + "?q=" + "b" * 3000
    html = f'<p>Grüße <a href="https://例え.jp/パス?q=ü">IDN</a> <a href="{long_url}">Long</a></p>'
    out, seen = track(html)
    assert seen == ["https://例え.jp/パス?q=ü", long_url]
    assert "Grüße" in out


def test_a_link_can_opt_out_and_either_part_can_be_switched_off():
    html = '<a href="https://keep.example.com" data-campanile-notrack>Keep</a><a href="https://x.example.com">X</a>'
    out, seen = track(html)
    assert seen == ["https://x.example.com"]
    assert '<a href="https://keep.example.com">Keep</a>' in out  # The marker is gone from the mail.
    no_pixel, _ = track(html, pixel_url=None)
    assert "<img" not in no_pixel
    no_clicks, seen = track(html, click_url=None)
    assert seen == []
    assert 'href="https://x.example.com"' in no_clicks
    assert html_track("", click_url=None, pixel_url=PIXEL) == ""


def test_text_before_and_after_elements_is_kept_in_a_fragment():
    out, _ = track('Hello <b>you</b>, see <a href="https://a.example.com">this</a>. Bye', pixel_url=None)
    assert out == f'Hello <b>you</b>, see <a href="{BASE}/c/1">this</a>. Bye'


def test_one_megabyte_of_html_is_rewritten():
    block = '<tr><td><a href="https://example.com/item/{n}">Item {n}</a> ' + "x" * 150 + "</td></tr>"
    html = "<table>" + "".join(block.format(n=n) for n in range(5000)) + "</table>"
    assert len(html) > 1_000_000
    out, seen = track(html)
    assert len(seen) == 5000
    assert out.count(f'href="{BASE}/c/') == 5000


def test_text_addresses_go_through_the_redirect_without_their_punctuation():
    seen = []

    def click(url):
        seen.append(url)
        return f"{BASE}/c/{len(seen)}"

    text = (
        "Sale: https://shop.example.com/sale?x=1&y=2. Blog (https://blog.example.com/post), "
        f"mail me at mailto:a@example.com, unsubscribe: {BASE}/u/abc\nhttp://old.example.org!"
    )
    out = text_track(text, click_url=click, keep_prefixes=(f"{BASE}/u/",))
    assert seen == [
        "https://shop.example.com/sale?x=1&y=2",
        "https://blog.example.com/post",
        "http://old.example.org",
    ]
    assert out == (
        f"Sale: {BASE}/c/1. Blog ({BASE}/c/2), mail me at mailto:a@example.com, "
        f"unsubscribe: {BASE}/u/abc\n{BASE}/c/3!"
    )


def test_a_hidden_honeypot_link_is_added_only_with_click_tracking():
    out, seen = track(
        '<p><a href="https://a.example.com">a</a></p>', honeypot_url="https://mail.example.com/?trap"
    )
    assert seen == ["https://a.example.com", "https://mail.example.com/?trap"]
    assert re.search(
        r'<a href="[^"]+/c/2" style="display:none[^"]*" aria-hidden="true" tabindex="-1"></a>', out
    )
    without, _ = track("<p>x</p>", click_url=None, honeypot_url="https://mail.example.com/?trap")
    assert "aria-hidden" not in without


def _text_tracked(text: str) -> str:
    return text_track(text, click_url=lambda url: f"<{url}>")


@pytest.mark.parametrize(
    ("text", "tracked"),
    [
        ("[这里](https://shop.example/sale)查看优惠", "[这里](<https://shop.example/sale>)查看优惠"),
        ("[A](https://x.org/a)[B](https://x.org/b)", "[A](<https://x.org/a>)[B](<https://x.org/b>)"),
        ("[W](https://x.org/Foo_(bar))—it", "[W](<https://x.org/Foo_(bar)>)—it"),
        ("see https://x.org/a. Then", "see <https://x.org/a>. Then"),
    ],
    ids=["cjk after", "two adjacent", "balanced parentheses", "running text"],
)
def test_a_text_link_made_from_html_ends_at_its_closing_parenthesis(text, tracked):
    assert _text_tracked(text) == tracked


def test_a_link_holding_a_control_character_is_left_as_it_is():
    assert _text_tracked("go http://a.example/x\x00y now") == "go http://a.example/x\x00y now"
    _, seen = track('<a href="https://a.example/x\x01y">x</a>')
    assert seen == []


def test_a_text_link_made_from_html_keeps_a_known_address_holding_an_unmatched_parenthesis():
    tracked = text_track(
        "[A](https://x.org/a)b) and [B](https://x.org/c)",
        click_url=lambda url: f"<{url}>",
        known=frozenset({"https://x.org/a)b", "https://x.org/c"}),
    )
    assert tracked == "[A](<https://x.org/a)b>) and [B](<https://x.org/c>)"


def test_a_text_part_tracks_only_addresses_its_author_wrote():
    text = (
        "Hi https://bit.ly/phish, see https://shop.example/sale?id=7 and [B](https://x.org/b), "
        "more at https://bit.ly/acme."
    )
    tracked = text_track(
        text,
        click_url=lambda url: f"<{url}>",
        known=frozenset({"https://x.org/b"}),
        written=text_written_links(
            "Hi {{ name }}, see HTTPS://Shop.Example/sale?id={{ id }} and more at https://bit.ly/acme."
        ),
    )
    # The shop's link is written by its start, bit.ly's whole, the link's address is in the HTML
    # part: all tracked. The address a contact's data brought, on bit.ly too, stays plain text.
    assert tracked == (
        "Hi https://bit.ly/phish, see <https://shop.example/sale?id=7> and [B](<https://x.org/b>), "
        "more at <https://bit.ly/acme>."
    )


@pytest.mark.parametrize(
    ("source", "exact", "prefixes"),
    [
        ("go https://a.example/x.", {"https://a.example/x.", "https://a.example/x"}, ()),
        ("see http://B.example:8080/?u={{ contact.id }} now", set(), ("http://b.example:8080/?u=",)),
        ("go https://{{ host }}/x or https://a.{{ tld }}/y or https://a.example{{ x }}", set(), ()),
        ("no links {{ contact.first_name }}", set(), ()),
    ],
    ids=["whole", "written start", "no host before the data", "none"],
)
def test_a_text_source_writes_whole_addresses_or_a_start_holding_a_host(source, exact, prefixes):
    assert text_written_links(source) == WrittenLinks(exact=frozenset(exact), prefixes=prefixes)


@pytest.mark.parametrize(
    ("text", "target", "after"),
    [
        (
            "Read https://en.wikipedia.org/wiki/Python_(programming_language) today",
            "https://en.wikipedia.org/wiki/Python_(programming_language)",
            " today",
        ),
        ("(see https://shop.example/a_(b)).", "https://shop.example/a_(b)", ")."),
        ("Search https://shop.example/search?q=[x]!", "https://shop.example/search?q=[x]", "!"),
        ("See https://shop.example/x)", "https://shop.example/x", ")"),
        ("見て https://shop.example/x」。", "https://shop.example/x", "」。"),
    ],
)
def test_a_text_link_keeps_the_brackets_it_opened_and_leaves_the_sentences_punctuation(text, target, after):
    written = text_written_links(text)
    tracked = text_track(text, click_url=lambda url: f"<{url}>", written=written)
    assert f"<{target}>{after}" in tracked
    assert written.covers(target)


def test_trimming_a_sentences_brackets_off_an_address_takes_one_pass():
    # Counting the brackets again at each one trimmed would cost the square of the run's length.
    assert sentence_trim("https://shop.example/" + ")." * 200_000) == "https://shop.example/"


def test_a_link_whose_text_is_its_own_address_is_tracked_once_and_its_text_kept():
    tracked = text_track(
        "[https://shop.example](https://shop.example) then [x](https://a.example/)",
        click_url=lambda url: f"<{url}>",
        known=frozenset({"https://shop.example", "https://a.example/"}),
        written=WrittenLinks(),
    )
    assert tracked == "[https://shop.example](<https://shop.example>) then [x](<https://a.example/>)"


@pytest.mark.parametrize("text", ["see http://[x now", "see https://a\uff03@b now", "[http://[x](http://[x)"])
def test_an_address_no_url_parser_can_read_is_left_as_it_is(text):
    assert text_track(text, click_url=lambda url: f"<{url}>", written=WrittenLinks()) == text
    assert text_track(text, click_url=lambda url: f"<{url}>", written=None) == text


@pytest.mark.parametrize("opening", ["<!-->", "<!--->"])
def test_a_comment_closed_at_once_hides_no_link_from_tracking(opening):
    html = (
        f'{opening} <p><a href="https://shop.example/sale">Sale</a></p> <!-- x --><html><body>y</body></html>'
    )
    _, seen = track(html)
    assert seen == ["https://shop.example/sale"]


def test_a_run_of_links_with_nothing_between_them_is_tracked_link_by_link():
    chain = "[http://a.example](http://a.example)[see http://b.example](http://b.example)" * 200
    tracked = text_track(
        chain, click_url=lambda url: f"<{url}>", known=frozenset({"http://a.example", "http://b.example"})
    )
    assert tracked == "[http://a.example](<http://a.example>)[see http://b.example](<http://b.example>)" * 200


def test_a_comment_closed_by_a_bang_hides_no_link_from_tracking():
    html = '<!-- a --!><a href="https://x.example/hidden">v</a><!-- b --><html><body>b</body></html>'
    _, seen = track(html)
    assert seen == ["https://x.example/hidden"]


def test_an_html_link_is_tracked_only_when_the_source_writes_it_in_an_href():
    source = (
        '<img src="https://cdn.example/logo.png"><a href="https://Shop.Example/{{ path }}">a</a>'
        "<a href='https://x.example/?a=1&amp;b={{ b }}'>b</a><a href=https://y.example/>c</a>"
        '<a href="{{ contact.website }}">d</a>{# https://z.example/ #}'
    )
    html = (
        '<a href="https://shop.example/sale">a</a><a href="https://x.example/?a=1&amp;b=2">b</a>'
        '<a href="https://y.example/">c</a><a href="https://cdn.example/phish">d</a>'
        '<a href="https://z.example/">e</a><a href="https://y.example/other">f</a>'
    )
    _, seen = track(html, written=html_written_links(source))
    assert seen == ["https://shop.example/sale", "https://x.example/?a=1&b=2", "https://y.example/"]


def test_an_svg_link_written_with_xlink_href_is_tracked_and_an_href_beside_it_wins():
    # SVG 1.1's xlink:href is followed where a link has no href; where it has both, href is (SVG 2).
    source = (
        '<svg><a xlink:href="https://old.example/{{ p }}"><text>old</text></a>'
        '<a XLINK:HREF="https://upper.example/">u</a>'
        '<a href="https://new.example/" xlink:href="https://ignored.example/">new</a></svg>'
    )
    written = html_written_links(source)
    assert written.covers("https://old.example/sale")
    assert written.covers("https://upper.example/")
    assert not written.covers("https://ignored.example/")
    html = source.replace("{{ p }}", "sale")
    out, seen = track(html, written=written)
    assert seen == ["https://old.example/sale", "https://upper.example/", "https://new.example/"]
    assert 'xlink:href="https://mail.example.com/c/1"' in out
    assert 'xlink:href="https://mail.example.com/c/2"' in out
    assert '<a href="https://mail.example.com/c/3">new</a>' in out  # The ignored one goes.


def test_only_what_a_browser_follows_as_a_link_is_tracked():
    # HTML's <a> has no xlink:href; MathML has no links; SVG has no <area>.
    html = (
        '<p><a xlink:href="https://shop.example/html">h</a></p>'
        '<math><a href="https://shop.example/math">m</a></math>'
        '<svg><area href="https://shop.example/area"/><a href="https://shop.example/svg">s</a></svg>'
    )
    out, seen = track(html, written=html_written_links(html))
    assert seen == ["https://shop.example/svg"]
    assert 'xlink:href="https://shop.example/html"' in out
    assert 'href="https://shop.example/math"' in out


@pytest.mark.parametrize(
    ("html", "tracked"),
    [
        ('<math><title><a href="https://shop.example/">m</a></title></math>', False),
        ('<svg><mtext><a href="https://shop.example/">s</a></mtext></svg>', True),
        ('<svg><title><a href="https://shop.example/">h</a></title></svg>', True),
        ('<math><mtext><a href="https://shop.example/">h</a></mtext></math>', True),
    ],
    ids=["mathml title", "svg mtext", "svg title", "mathml mtext"],
)
def test_a_name_lets_html_in_only_as_an_element_of_its_own_namespace(html, tracked):
    # <title> lets HTML in under SVG, not under MathML (its <a> is MathML's: no link); <mtext>
    # under MathML, not under SVG (its <a> is SVG's: a link).
    _out, seen = track(html)
    assert seen == (["https://shop.example/"] if tracked else [])


def test_an_svg_link_writing_xlink_href_before_href_has_its_href_tracked():
    html = '<svg><a xlink:href="https://shop.example/sale" href="https://shop.example/sale">s</a></svg>'
    out, seen = track(html, written=html_written_links(html))
    assert seen == ["https://shop.example/sale"]
    assert '<a href="https://mail.example.com/c/1">s</a>' in out


@pytest.mark.parametrize(
    "dead",
    [
        '{% comment %}<a href="https://bit.ly/{{ c }}">old</a>{% endcomment %}',
        '{# <a href="https://bit.ly/{{ c }}"> #}',
        '<!-- <a href="https://bit.ly/{{ c }}"> -->',
        '<style>/* href="https://bit.ly/{{ c }}" */</style>',
        '<p data-note="href=https://bit.ly/{{ c }}">Paste href=https://bit.ly/{{ code }}</p>',
        '<a data-note="see href=https://bit.ly/{{ c }}" title=\'href="https://bit.ly/{{ c }}"\'>y</a>',
        "<img alt='<a href=\"https://bit.ly/{{ c }}\">'>",
        '<div title="<a href=https://bit.ly/{{ c }}>">x</div>',
        '<textarea><a href="https://bit.ly/{{ c }}">x</a></textarea>',
        '<title><a href="https://bit.ly/{{ c }}"></title>',
        '<?php <a href="https://bit.ly/{{ c }}"> ?>',
        '<![CDATA[<a href="https://bit.ly/{{ c }}">]]>',
        '<noembed><a href="https://bit.ly/{{ c }}">x</a></noembed>',
        '<noframes><a href="https://bit.ly/{{ c }}">x</a></noframes>',
        '<plaintext><a href="https://bit.ly/{{ c }}">x</a>',
        '<template><a href="https://bit.ly/{{ c }}">x</a></template>',
        '<a\u00a0href="https://bit.ly/{{ c }}">x</a>',
        '<a\x0bhref="https://bit.ly/{{ c }}">x</a>',
        '<a title\u00a0href="https://bit.ly/{{ c }}">x</a>',
        '<a title\x1chref="https://bit.ly/{{ c }}">x</a>',
        '<a =href="https://bit.ly/{{ c }}">x</a>',
        '<a "href="https://bit.ly/{{ c }}">x</a>',
        '<a title="t"\'href="https://bit.ly/{{ c }}">x</a>',
    ],
    ids=[
        "comment tag",
        "comment",
        "html comment",
        "style",
        "another attribute and text",
        "a link's other attribute",
        "a tag in an attribute",
        "a tag in a quoted attribute",
        "textarea",
        "title",
        "processing instruction",
        "cdata",
        "noembed",
        "noframes",
        "plaintext",
        "template",
        "a no-break space after the tag's name",
        "a vertical tab after the tag's name",
        "a no-break space between attributes",
        "a control character between attributes",
        "a name starting with an equals sign",
        "a name starting with a quote",
        "a quote right after a value",
    ],
)
def test_an_href_the_email_never_shows_writes_no_link(dead):
    written = html_written_links(f'<a href="{{{{ attributes.w }}}}">x</a>{dead}')
    assert not written.covers("https://bit.ly/3evil")


def test_a_tracked_address_loses_only_the_ends_a_browser_strips():
    # A browser strips controls and spaces from an address's ends, not a no-break or an em space.
    html = '<a href=" https://s.example/y\t">y</a><a href="https://s.example/x\u00a0">x</a><a href="https://s.example/z\u2003">z</a>'
    written = html_written_links(html)
    _, seen = track(html, written=written)
    assert seen == ["https://s.example/y", "https://s.example/x\u00a0", "https://s.example/z\u2003"]
    assert not written.covers("https://s.example/x")


def test_an_href_is_read_as_the_email_reads_it_entities_included():
    written = html_written_links(
        '<a href="https://shop.example/?country=fr&region=eu">a</a>'
        '<a href="https://shop.example/?a=1&amp;copy=2">b</a>'
        '<a href="https://shop.example/?id={{ id }}&region=eu">c</a>'
    )
    _, seen = track(
        '<a href="https://shop.example/?country=fr&region=eu">a</a>'
        '<a href="https://shop.example/?a=1&amp;copy=2">b</a>'
        '<a href="https://shop.example/?id=7&region=eu">c</a>',
        written=written,
    )
    assert seen == [
        "https://shop.example/?country=fr&region=eu",
        "https://shop.example/?a=1&copy=2",
        "https://shop.example/?id=7&region=eu",
    ]


def test_a_reference_without_its_semicolon_in_a_written_href_is_read_as_a_browser_reads_it():
    html = (
        '<a href="https://shop.example/?a=1&copy">a</a>'  # "©" at the end of the value.
        '<a href="https://shop.example/?lang=en&reg.x=1">b</a>'  # "®" before a dot.
        '<a href="https://shop.example/?n=1&notit=2">c</a>'  # Before a letter or "=": as written.
    )
    _, seen = track(html, written=html_written_links(html))

    assert seen == [
        "https://shop.example/?a=1\u00a9",
        "https://shop.example/?lang=en\u00ae.x=1",
        "https://shop.example/?n=1&notit=2",
    ]


def test_reading_the_links_of_a_text_source_full_of_unclosed_variables_takes_one_pass():
    # "http://{{" without its "}}", 50,000 times: each used to be read to the end of the source.
    assert text_written_links("http://{{\n" * 50_000) == WrittenLinks()


def test_dropping_closing_tags_takes_one_pass_whatever_the_html_holds():
    from core.html_text import html_end_tags_drop

    # Unclosed comments or quotes, each read again to the end, would cost the square of the length.
    for html in ("<!--" * 50_000, '<a "' * 50_000, "<a '" * 50_000, "<" * 200_000):
        assert html_end_tags_drop(html) == html
    assert html_end_tags_drop("</body>" * 50_000) == ""


def test_closing_tags_written_in_an_attribute_or_a_comment_are_kept_as_text():
    html = (
        '<a href="https://a.example/s?q=</body>">go</a><img alt="a</html>b" src="i.png">'
        "<!--[if mso]></body><![endif]--><p>after</p>"
    )
    out, seen = track(html, written=html_written_links(html))
    assert seen == ["https://a.example/s?q=</body>"]  # The link's target, whole.
    assert 'alt="a&lt;/html&gt;b"' in out or 'alt="a</html>b"' in out
    assert "<!--[if mso]></body><![endif]-->" in out
    assert "<p>after</p>" in out


def test_a_link_written_after_a_closing_html_is_a_written_link():
    written = html_written_links('<html><body><p>Hi</p></body></html><a href="https://shop.example/a">x</a>')
    assert written.covers("https://shop.example/a")


@pytest.mark.parametrize(
    ("source", "written"),
    [
        (
            "<p " + " ".join(f"x{n}" for n in range(60_000)) + '>Hi</p><a href="https://shop.example/">s</a>',
            True,
        ),
        ("<a " * 100_000 + '<a href="https://shop.example/">s</a>', True),  # One tag, its href the last.
        ("<!--" * 100_000 + '<a href="https://shop.example/">s</a>', False),  # All one open comment.
        ('<a title="' * 50_000 + '<a href="https://shop.example/">s</a>', True),
        ('<svg><p title="' + "<svg " * 100_000 + '">x</p><a href="https://shop.example/">s</a>', True),
        ("<math><svg " + "<svg " * 100_000 + '><a href="https://shop.example/">s</a>', True),
    ],
    ids=[
        "many attributes",
        "unclosed tags",
        "unclosed comments",
        "unclosed quotes",
        "svg tags in a value",
        "svg tags as attributes",
    ],
)
def test_reading_the_links_of_a_costly_html_source_takes_one_pass(source, written):
    # Each of these cost the square of its length to a reader that scanned again from every tag
    # (libxml2 included, for the attributes); read as a browser reads them.
    assert html_written_links(source).covers("https://shop.example/") == written


@pytest.mark.parametrize(
    "before",
    [
        '<a href="https://shop.example/sale" style="color:#333"">Sale</a>',
        '<a title=O\'Brien href="https://shop.example/sale">Sale</a>',
        '<img alt="x" src="x.png"><p>Avoid <scripts>!</p><a href="https://shop.example/sale">Sale</a>',
        "<a" + " " * 20_000 + 'href="https://shop.example/sale">Sale</a>',
        "<!---->" * 20_000 + '<a href="https://shop.example/sale">Sale</a>',
        '<a title="x</ " href="https://shop.example/sale">Sale</a>',
        '<b title="<!--"></b><p title=<title>>x</p><a href="https://shop.example/sale">Sale</a>',
        "<i data-x='<style>'>x</i><a href=\"https://shop.example/sale\">Sale</a>",
    ],
    ids=[
        "a doubled quote",
        "an apostrophe in an unquoted value",
        "a tag named like script",
        "blanks",
        "comments",
        "a bogus comment's opening in a value",
        "a comment's and a title's opening in values",
        "a style's opening in a value",
    ],
)
def test_the_link_reader_reads_tags_as_a_browser_does(before):
    written = html_written_links(before + '<a href="https://shop.example/new">New</a>')
    assert written.covers("https://shop.example/sale")
    assert written.covers("https://shop.example/new")


@pytest.mark.parametrize(
    "html",
    [
        "<p>Hello</p><div><plaintext>Sent by Acme</div>",
        '<p>Hello</p><picture><source srcset="https://other.example/x.png"><plaintext>VIP & co',
        # Read before the table, which the writer would then write after its text, shown as text.
        "<table><tr><td>Acme Ltd</td></tr><plaintext>Sent by Acme",
    ],
)
def test_html_holding_a_plaintext_is_not_tracked_as_nothing_can_go_after_it(html):
    with pytest.raises(ValueError, match="plaintext"):
        track(html)


def test_an_email_holding_a_plaintext_goes_out_as_rendered_or_not_at_all_if_it_measures_opens():
    from campaigns.rendering import RenderedEmail
    from delivery.exceptions import PixelNotCarried
    from delivery.links import LinkMarks

    html = '<p><a href="https://shop.example/">x</a></p><table><tr><td>Acme</td></tr><plaintext>Sent'
    rendered = RenderedEmail(subject="Hi", html=html, text="")
    clicks = LinkMarks(marker="m-", clicks=True, pixel_url=None, keep_prefixes=(), honeypot_url=None)
    opens = LinkMarks(marker="m-", clicks=True, pixel_url=PIXEL, keep_prefixes=(), honeypot_url=None)

    assert clicks(rendered, ("Hi", html, "")).html == html  # Untracked, as it was rendered.
    with pytest.raises(PixelNotCarried, match="can carry no open pixel"):
        opens(rendered, ("Hi", html, ""))


def test_a_link_kept_out_of_tracking_stays_out_wherever_it_is_in_a_fragment():
    out, seen = track(
        '<p>Hi</p><a href="https://shop.example/private" data-campanile-notrack>keep</a>'
        '<p><a href="https://shop.example/t">t</a></p>'
    )

    assert seen == ["https://shop.example/t"]
    assert '<a href="https://shop.example/private">keep</a>' in out


def test_text_in_an_svg_or_mathml_style_is_written_escaped_so_no_contacts_data_becomes_markup():
    from selectolax.lexbor import LexborHTMLParser

    # What autoescape makes of a contact's "red}</style></svg><a href=…>" in an SVG's <style>.
    data = "red}&lt;/style&gt;&lt;/svg&gt;&lt;a href=&quot;https://evil.example/&quot;&gt;Verify&lt;/a&gt;"
    out, seen = track(
        f'<p>Hi</p><svg><style>.c{{fill:{data}}}</style></svg><a href="https://shop.example/">s</a>'
    )

    assert seen == ["https://shop.example/"]
    assert [a.attrs["href"] for a in LexborHTMLParser(out).css("a")] == [f"{BASE}/c/1"]
    # Under a name that lets HTML in only in MathML, an SVG <style> is still SVG's: escaped too.
    claim = "&lt;/style&gt;&lt;a href=https://evil.example/&gt;Claim&lt;/a&gt;"
    out, _seen = track(f"<svg><mi><style>{claim}</style></mi></svg>")
    assert out.startswith(f"<svg><mi><style>{claim}</style></mi></svg>")
    assert not LexborHTMLParser(out).css("a")
    # An author's own text there reads back as it was read, and HTML's <style> stays as written.
    out, _seen = track("<math><style>&amp;lt;</style></math><style>p > b {}</style>")
    assert out.startswith("<math><style>&amp;lt;</style></math><style>p > b {}</style>")


def test_comments_between_a_fragments_head_and_body_or_after_its_body_are_kept():
    out, _seen = track(
        "<!--[if mso]><table><tr><td><![endif]--><div>content</div></body>"
        "<!--[if mso]></td></tr></table><![endif]--></html>"
    )

    assert out.endswith("<!--[if mso]></td></tr></table><![endif]-->")


def test_comments_after_a_stray_end_tag_at_the_start_are_kept():
    out, _seen = track(
        "</div><!--[if mso]><table><tr><td><![endif]--><p>Hi</p><!--[if mso]></td></tr></table><![endif]-->"
    )
    assert out.startswith("<!--[if mso]><table><tr><td><![endif]--><p>Hi</p>")

    out, _seen = track(
        "<!DOCTYPE html></span><!--[if gte mso 9]><xml>x</xml><![endif]--><html><body><p>a</p></body></html>"
    )
    assert out.startswith("<!DOCTYPE html><!--[if gte mso 9]><xml>x</xml><![endif]--><html>")


def test_a_doctype_after_text_is_ignored_as_a_browser_ignores_it():
    # A no-break space is text: the page is read in quirks mode, where a <table> leaves the <p> open.
    out, _seen = track(
        '\u00a0<!DOCTYPE html><p style="color:red">Intro<table><tr><td>c</td></tr></table>Offer</p>'
    )

    assert "</table>Offer</p>" in out


@pytest.mark.parametrize(
    "html",
    [
        # An SVG <style> inside a <template>, holding what autoescape made of a contact's
        # "</style><a href=…>": written unescaped, it would be a live link.
        "<p>Hi</p><template><svg><style>&lt;/style&gt;&lt;/svg&gt;&lt;/template&gt;"
        "&lt;a href=https://evil.example/&gt;Verify&lt;/a&gt;</style></svg></template>",
        # A <div> a table's foster parenting put inside a quirks-mode <p>, which it would close.
        '<p style="color:red">Intro<table><tr><td>Order</td></tr><div>Note</div></table>Thanks</p>',
    ],
)
def test_html_that_would_read_back_otherwise_is_never_written_changed(html):
    with pytest.raises(ValueError, match="would read otherwise"):
        track(html)


def test_a_doctype_after_a_bogus_comment_is_kept_and_one_in_a_comment_sets_no_mode():
    out, _seen = track(
        '<?xml version="1.0" encoding="utf-8"><!DOCTYPE html><html lang="en"><body><p>Hi</p></body></html>'
    )
    assert out.startswith('<?xml version="1.0" encoding="utf-8"><!DOCTYPE html><html lang="en">')

    out, _seen = track(
        '<!-- <!DOCTYPE html> --><p style="color:red">Intro<table><tr><td>O</td></tr></table>Thanks</p>'
    )
    assert "</table>Thanks</p>" in out  # Quirks mode, as the reader reads it.


def test_text_in_an_svg_or_mathml_noscript_is_escaped_once():
    out, _seen = track("<math><noscript>Tom &amp; Jerry &lt;3</noscript></math>")

    assert out.startswith("<math><noscript>Tom &amp; Jerry &lt;3</noscript></math>")


def test_a_fragment_is_read_in_the_quirks_mode_its_reader_reads_it_in():
    # Without a DOCTYPE a <table> does not close a <p>: "Thanks" stays in the red paragraph.
    out, _seen = track('<p style="color:red">Intro<table><tr><td>Order</td></tr></table>Thanks</p>')

    assert out.startswith(
        '<p style="color:red">Intro<table><tbody><tr><td>Order</td></tr></tbody></table>Thanks</p>'
    )


def test_the_html_written_back_is_what_a_browser_reads_so_the_reader_sees_what_the_author_wrote():
    out, seen = track(
        '<p>One</br>two</p><b><p>Bold <a href="https://example.org/b">b</a></p></b><i>x<p>y</p></i>'
    )

    assert seen == ["https://example.org/b"]
    # A browser reads </br> as a line break, and keeps a <p> inside the <b> and the <i> around it.
    assert out.startswith(f'<p>One<br>two</p><b><p>Bold <a href="{BASE}/c/1">b</a></p></b><i>x<p>y</p></i>')


def test_html_of_comments_alone_has_nowhere_for_a_pixel_or_a_link():
    with pytest.raises(ValueError, match="nothing follows its prologue"):
        track("<!-- soon -->")
    with pytest.raises(ValueError, match="nothing in it is part of a page"):
        track("<frameset><frame src=x></frameset>")


def test_an_image_a_picture_or_a_video_holds_is_no_pixel_that_loads():
    from core.html import PixelHidden, html_read, html_write

    def written(html: str) -> str:
        return html_write(html_read(html), shown=PIXEL)

    with pytest.raises(PixelHidden):
        written(f'<picture><source srcset="x.png"><img src="{PIXEL}"></picture>')
    with pytest.raises(PixelHidden):
        written(f'<video src="v.mp4"><img src="{PIXEL}"></video>')
    assert written(f'<p><img src="{PIXEL}"></p>') == f'<p><img src="{PIXEL}"></p>'


def test_a_whole_document_opening_with_a_meta_keeps_its_html_head_and_body():
    out, _seen = track(
        '<meta charset="utf-8">\n<html lang="de"><head><title>T</title></head>'
        '<body bgcolor="#ff0000" style="margin:0"><p>Hi</p></body></html>'
    )

    assert out.startswith('<html lang="de"><head><meta charset="utf-8">')
    assert '<body bgcolor="#ff0000" style="margin:0"><p>Hi</p>' in out


@pytest.mark.parametrize("tag", ["pre", "textarea", "listing"])
def test_a_blank_first_line_of_preformatted_text_is_kept(tag):
    from selectolax.lexbor import LexborHTMLParser

    out, _seen = track(f"<p>Hi</p><{tag}>\n\nline after a blank line</{tag}>")

    assert LexborHTMLParser(out).css_first(tag).text() == "\nline after a blank line"


def test_an_element_a_fragment_leaves_open_shows_no_closing_tags_the_reader_never_wrote():
    out, _seen = track("<p>Hi</p><textarea>notes")

    assert "&lt;/body&gt;" not in out
    assert out.startswith("<p>Hi</p><textarea>notes</textarea>")


def test_an_image_tag_is_read_as_a_browser_reads_it_in_a_table_too():
    out, seen = track(
        '<table><image src="https://example.com/logo.png"><tr><td><a href="https://example.com/a">A</a>'
        '</td></tr></table><svg><image href="https://example.com/s.svg"/></svg>'
        '<textarea><image src=t></textarea><script>var s = "<image>";</script>'
    )

    # Outside SVG it is an <img>, which a table's foster parenting shows before the table.
    assert out.startswith('<img src="https://example.com/logo.png"><table>')
    assert '<svg><image href="https://example.com/s.svg"></image></svg>' in out
    assert '<textarea>&lt;image src=t&gt;</textarea><script>var s = "<image>";</script>' in out
    assert seen == ["https://example.com/a"]


def test_an_image_tag_written_in_an_attributes_value_or_after_a_comment_is_left_as_it_is():
    out, seen = track(
        '<p>Hi</p><!--[if mso]><p>Outlook</p><![endif]--><svg><image href="https://shop.example/l.png"/></svg>'
        '<p>x <a a"b href="https://shop.example/?q=>&t=<image>">Shop</a></p>'
    )

    assert '<svg><image href="https://shop.example/l.png"></image></svg>' in out
    assert seen == ["https://shop.example/?q=>&t=<image>"]  # Its address, as written: tracked.


@pytest.mark.parametrize(
    "noscript",
    [
        "<noscript><!--</noscript><textarea>--></noscript>",
        "<noscript><style></noscript><textarea></style></noscript>",
    ],
)
def test_a_noscript_a_reader_running_scripts_would_end_early_is_never_tracked(noscript):
    html = f'<p>Hello {noscript} see <a href="https://shop.example/sale">sale</a></p>'

    with pytest.raises(ValueError, match="running scripts"):
        track(html)
    # One such a reader reads as written is tracked as usual (in the body: at the very start, a
    # fragment's <noscript> is the head's, which its <p> would leave).
    assert track('<p>Hi</p><noscript><p>No scripts</p></noscript><a href="https://shop.example/">x</a>')[1]


@pytest.mark.parametrize(
    "foreign",
    [
        '<svg><style><!--</style><a href="https://partner.example/">--></style></svg>',
        '<svg><style><p><textarea></style><a href="https://partner.example/"></textarea>',
        '<math><title><!--</title><a href="https://partner.example/">--></title></math>',
        '<svg><script><!--</script><a href="https://partner.example/">--></script></svg>',
        '<svg><![CDATA[ > <a href="https://partner.example/"> ]]></svg>',
    ],
    ids=["a comment in a style", "a textarea after it", "mathml", "script", "cdata"],
)
def test_an_href_svg_or_mathml_hides_from_a_browser_writes_no_link(foreign):
    # A browser reads markup there, the link reader raw text: from there on nothing counts as
    # written, so a hidden address never makes a contact's data a tracked redirect.
    source = f'<p>Hi</p>{foreign}<a href="{{{{ attributes.site }}}}">x</a>'
    html = source.replace("{{ attributes.site }}", "https://partner.example/")

    _out, seen = track(html, written=html_written_links(source))

    assert seen == []


def test_a_link_after_svg_a_text_reader_reads_otherwise_goes_untracked_and_the_rest_as_usual():
    source = (
        '<a href="https://shop.example/a">a</a>'
        '<svg><style><p><a href="https://shop.example/out">Shop now</a></p></style></svg>'
    )
    out, seen = track(source, written=html_written_links(source))
    assert seen == ["https://shop.example/a"]
    assert '<a href="https://shop.example/out">Shop now</a>' in out  # Shown, as written.


def test_svg_whose_style_and_title_hold_text_alone_is_read_as_usual():
    html = (
        "<style><!-- p {} --></style>"
        "<svg><title>Logo &amp; co</title><style>.a > b { fill: red }</style></svg>"
        '<style><!-- p { color: red } --></style><svg/><a href="https://shop.example/">x</a>'
    )
    assert track(html, written=html_written_links(html))[1] == ["https://shop.example/"]


def test_a_declarative_shadow_root_is_never_tracked():
    with pytest.raises(ValueError, match="shadow root"):
        track(
            '<template shadowrootmode="open"><a href="https://shop.example/x">Shop</a></template><p>light</p>'
        )


def test_a_content_security_policy_the_author_sets_may_keep_the_pixel_from_loading():
    from core.html import PixelHidden, html_pixel_hindrance, html_read, html_write

    policy = '<meta http-equiv=" Content-Security-Policy" content="img-src https://shop.example">'

    assert html_pixel_hindrance(f"<html><head>{policy}</head><body><p>Hi</p></body></html>") == "policy"
    with pytest.raises(PixelHidden):  # And so is the email that sets one, in a step measuring opens.
        html_write(html_read(f"{policy}<p>Hi</p>"), shown=PIXEL)
    assert html_pixel_hindrance('<meta http-equiv="refresh" content="30"><p>Hi</p>') == ""


@pytest.mark.parametrize(
    "dead",
    [
        "<style>p{color:red}</styles>{}</style>",
        "<textarea></textareax>{}</textarea>",
        "<title></titles>{}</title>",
        "<iframe></iframe2>{}</iframe>",
        "<script><!--<script></script>{}</script>",
        "<template><template></template>{}</template>",
        "<!{}>",
        "</ {}>",
        "</p {}>",
    ],
)
def test_a_link_in_code_no_reader_sees_is_never_a_written_one(dead):
    written = html_written_links(dead.replace("{}", '<a href="https://evil.example/">x</a>') + "<p>Hi</p>")

    assert not written.covers("https://evil.example/phish")
    assert not written.covers("https://evil.example/")


def test_a_select_holding_more_than_options_is_never_tracked():
    # Read as before 2025, the <textarea> closes the <select> and takes in the rest: the pixel too.
    with pytest.raises(ValueError, match="older reader"):
        track(
            '<select><div><iframe><textarea></iframe></div></select><p><a href="https://shop.example/">x</a>'
        )
    options = '<select><option>One</option><optgroup label="g"><option>Two</option></optgroup></select>'
    out, _seen = track(options)
    assert out.startswith(options)
    assert f'<img src="{PIXEL}"' in out


def test_a_notrack_mark_counts_only_in_a_template_whose_author_writes_one():
    from django.template import Context, Template

    source = "<p>Hi <a href=https://shop.example/?n={{ n }}>x</a></p>"
    # A contact's data, through the attribute left unquoted, adds the mark to the author's link.
    html = Template(source).render(Context({"n": "a data-campanile-notrack"}))

    _out, seen = track(html, written=html_written_links(source))
    assert seen == ["https://shop.example/?n=a"]  # Tracked: the author never wrote the mark.
    authored = '<a href="https://shop.example/" data-campanile-notrack>x</a>'
    assert track(authored, written=html_written_links(authored))[1] == []


def test_a_notrack_mark_named_in_the_emails_text_is_no_mark_a_contacts_data_may_use():
    from django.template import Context, Template

    source = "<p>Tip: add data-campanile-notrack to a link.</p><a href=https://shop.example/?c={{ c }}>x</a>"
    html = Template(source).render(Context({"c": "z data-campanile-notrack"}))

    _out, seen = track(html, written=html_written_links(source))

    assert seen == ["https://shop.example/?c=z"]


@pytest.mark.parametrize(
    "inert",
    [
        "<template><noscript><!--</noscript><template>--></noscript></template>",
        "<template><select><div>x</div><textarea></select></template>",
        "<template><div><b><search hidden>x</b> see</div></template>",
    ],
)
def test_a_template_holding_what_some_readers_read_otherwise_is_never_tracked(inert):
    # The checks walk the document's tree, which a <template>'s content is no part of.
    with pytest.raises(ValueError, match="<template> holds"):
        track(f'<p>Hello</p>{inert}<p><a href="https://shop.example/sale">shop</a></p>')
    assert track('<template><p>Later</p></template><a href="https://shop.example/">x</a>')[1]


@pytest.mark.parametrize(
    "html",
    [
        '<div><b><search hidden>x</b> Read <a href="https://shop.example/sale">sale</a></div>',
        '<search><a href="https://shop.example/sale">sale</a></search>',
    ],
    ids=["misnested", "as written"],
)
def test_html_holding_a_search_element_is_never_tracked_as_browsers_disagree_on_it(html):
    # Chromium ends a <search> at a misnested </b>, lexbor keeps it open for what follows: written
    # back, the link would be hidden inside it.
    with pytest.raises(ValueError, match="<search>"):
        track(html)


def test_a_web_address_with_too_few_or_too_many_slashes_is_tracked_as_the_address_a_browser_follows():
    html = '<a href="https:/shop.example/one">1</a><a href="https:shop.example/two">2</a><a href="https:///shop.example/3">3</a>'

    _out, seen = track(html, written=html_written_links(html))

    assert seen == ["https://shop.example/one", "https://shop.example/two", "https://shop.example/3"]


def test_a_link_under_mglyph_or_malignmark_stays_mathmls_and_no_link():
    _out, seen = track(
        '<math><mtext><mglyph><a href="https://shop.example/mg">MG</a></mglyph></mtext></math>'
    )

    assert seen == []


@pytest.mark.parametrize(
    "html",
    [
        '<noscript><p>Only without scripts <a href="https://shop.example/ns">ns</a></p></noscript><p>Body</p>',
        "<html><head><noscript><div>HEAD-NS</div></noscript></head><body><p>x</p></body></html>",
        "<p>a<noscript><p>NSP</p></noscript>b</p>",
    ],
)
def test_a_noscript_whose_place_would_move_its_content_out_is_never_tracked(html):
    # lexbor reads with scripts off: such a <noscript> ends at its first tag, and written back,
    # what it held would show to every reader.
    with pytest.raises(ValueError, match="noscript"):
        track(html)
    # In the body, where a <p> may be, it keeps what it holds: tracked as usual.
    out, seen = track(
        '<p>Hi</p><noscript><p>No scripts <a href="https://shop.example/n">n</a></p></noscript>'
    )
    assert seen == ["https://shop.example/n"]
    assert "<noscript><p>No scripts" in out


def test_a_backslash_in_a_web_address_is_tracked_as_the_slash_a_browser_reads():
    # Python's and Django's readers take a backslash as part of a user name before the "@": the
    # redirect would go to evil.example, where a browser follows the link to shop.example.
    html = (
        '<a href="https://shop.example\\@evil.example/28">a</a><a href="https:\\\\shop.example\\27">b</a>'
        '<a href="https://shop.example/s?q=a\\b#c\\d">c</a>'
    )
    text = "Shop: https://shop.example\\@evil.example/t now"

    _out, seen = track(html, written=html_written_links(html))
    targets: list[str] = []
    text_track(text, click_url=lambda url: targets.append(url) or "x", written=text_written_links(text))

    assert seen == [
        "https://shop.example/@evil.example/28",
        "https://shop.example/27",
        "https://shop.example/s?q=a\\b#c\\d",  # In the query and the fragment a backslash is itself.
    ]
    assert targets == ["https://shop.example/@evil.example/t"]


def test_an_href_wrapped_over_lines_is_tracked_as_the_address_a_browser_follows():
    html = '<p><a href="https://shop.example/sale/spring\n-collection">S</a><a href="https://shop.example/a\tb">x</a></p>'

    _out, seen = track(html, written=html_written_links(html))

    # The URL standard takes tabs and line breaks out wherever they are.
    assert seen == ["https://shop.example/sale/spring-collection", "https://shop.example/ab"]


@pytest.mark.parametrize(
    "html",
    [
        '<p><img alt="Spring&#13;&#10;sale" src="https://img.example/x.png"> '
        '<a href="https://shop.example/sale">Shop</a></p>',
        '<p>Line one&#13;&#10;line two <a href="https://shop.example/sale">Shop</a></p>',
        '<pre>&#13;x</pre><p><a href="https://shop.example/sale">Shop</a></p>',
        '<textarea>&#13;x</textarea><p><a href="https://shop.example/sale">Shop</a></p>',
        '&#xFEFF;<p><a href="https://shop.example/sale">Shop</a></p>',
    ],
    ids=["in an alt", "in text", "after a pre", "after a textarea", "a leading byte order mark"],
)
def test_html_holding_a_carriage_return_reference_as_word_writes_is_tracked_as_it_reads(html):
    from core.html import html_read

    out, seen = track(html)

    assert seen == ["https://shop.example/sale"]
    # Read again, the tracked HTML holds the same characters: the reference was written back.
    source_text = html_read(html).parser.root.text(deep=True)
    assert html_read(out).parser.root.text(deep=True) == source_text
