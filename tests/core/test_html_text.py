import pytest

from core.html_text import (
    html_end_tags_drop,
    html_foreign_misread_at,
    html_lower,
    html_tag_read,
    html_unshown_drop,
    url_percent_encode,
    url_strip,
)

# "İ" (U+0130) is the one letter whose str.lower() is two characters ("i̇").
TURKISH = "<h1>İNDİRİM İÇİN İLK ADIM</h1>"


@pytest.mark.parametrize(
    ("html", "shown"),
    [
        (
            '<p>İİİİİ</p><!-- c --><p><a href="https://shop.example/sale">Sale</a></p>',
            '<p>İİİİİ</p><p><a href="https://shop.example/sale">Sale</a></p>',
        ),
        (
            f'{TURKISH}<!--[if mso]><table><tr><td><![endif]--><p><a href="https://shop.example/a">A</a>'
            "</p><!--[if mso]></td></tr></table><![endif]--><p>İyi günler</p>",
            f'{TURKISH}<p><a href="https://shop.example/a">A</a></p><p>İyi günler</p>',
        ),
        (
            '<head><title>İNDİRİM İÇİN</title></head><a href="https://shop.example/a">A</a>',
            '<head></head><a href="https://shop.example/a">A</a>',
        ),
        (
            "İ" * 30 + "<style>p { color: red }</style><template><p>x</p></template><script>1</script>z",
            "İ" * 30 + "z",
        ),
        # What decides whether a template shows its unsubscribe link: one in a comment is not.
        ("İ" * 40 + "<!-- {{ unsubscribe_url }} --><p>Bye</p>", "İ" * 40 + "<p>Bye</p>"),
    ],
    ids=["repro", "outlook conditional comments", "title", "style template script", "commented out"],
)
def test_html_holding_a_letter_whose_lower_case_is_longer_is_cut_where_its_unshown_parts_are(html, shown):
    assert html_unshown_drop(html) == shown


def test_where_svg_is_misread_is_found_in_the_html_itself_whatever_letters_come_before():
    html = "<p>" + "İ" * 12 + '</p><svg><style><b>x</b></style></svg><a href="https://shop.example/">s</a>'
    assert html[html_foreign_misread_at(html) :].startswith("<style><b>")


def test_html_lower_lowers_ascii_letters_alone_and_keeps_every_position():
    text = "<TİTLE>İNDİRİM \u212a ſ ÄÖ</TİTLE>"
    assert html_lower(text) == "<tİtle>İndİrİm \u212a ſ ÄÖ</tİtle>"
    assert len(html_lower(text)) == len(text)
    assert html_lower("<A HREF=X>") == "<a href=x>"


@pytest.mark.parametrize(
    ("html", "shown"),
    [
        # "<K" (the Kelvin sign) opens no tag, as only ASCII letters start a tag's name: the
        # comment in what looks like its attribute is one, and hides the link.
        ('<\u212a title="<!--"><a href="https://x.example/">y</a>-->z', '<\u212a title="z'),
        # "</é" is no end tag but a bogus comment, up to the first ">".
        ('</é <a href="https://x.example/">y</a>', "y</a>"),
        ('</İ x="<a href=https://x.example/>">', '">'),
    ],
    ids=["kelvin sign", "end tag of a non-ascii letter", "end tag of a dotted capital i"],
)
def test_only_ascii_letters_name_a_tag_for_the_reader_as_for_a_browser(html, shown):
    assert html_unshown_drop(html) == shown


def test_an_attribute_is_a_link_only_by_its_ascii_name():
    assert html_tag_read('<a xlin\u212a:href="https://x.example/">', 2) == (None, 35)
    assert html_tag_read('<a XLINK:HREF="https://x.example/">', 2)[0] == "https://x.example/"


def test_a_closing_body_after_a_tag_of_no_ascii_name_is_dropped_as_a_browser_reads_it():
    # "<ſ title=" is text to a browser, so the "</body>" after it is a tag.
    assert html_end_tags_drop('<ſ title="</body>">x') == '<ſ title="">x'
    assert html_end_tags_drop('<s title="</body>">x') == '<s title="</body>">x'


def test_only_an_ascii_scheme_is_a_web_address_a_backslash_or_slashes_are_read_in():
    assert url_strip("httpſ:x\\y") == "httpſ:x\\y"
    assert url_strip("HTTPS:x\\y") == "HTTPS://x/y"


@pytest.mark.parametrize(
    ("url", "requested"),
    [
        ("https://app.example/#/search?q={plan}|x^y", "https://app.example/#/search?q={plan}|x^y"),
        ("https://app.example/p?q={a}|b^c\\d`e", "https://app.example/p?q={a}|b^c\\d`e"),
        ('https://app.example/p?q=a b"c<d>e', "https://app.example/p?q=a%20b%22c%3Cd%3Ee"),
        ("https://app.example/p?q=%7B%zz%20", "https://app.example/p?q=%7B%zz%20"),  # Never twice.
        ("https://例え.jp/パス?q=ü#é", "https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?q=%C3%BC#%C3%A9"),
        ("https://x.example/a\x7fb\x00c\r\nd", "https://x.example/a%7Fb%00c%0D%0Ad"),
        ("https://x.example/'!$&()*+,;=:@[]~", "https://x.example/'!$&()*+,;=:@[]~"),
    ],
    ids=["hash route", "query", "blanks and quotes", "escapes", "unicode", "controls", "delimiters"],
)
def test_an_address_is_percent_encoded_only_where_a_browser_encodes_it_wherever_it_is(url, requested):
    assert url_percent_encode(url) == requested
