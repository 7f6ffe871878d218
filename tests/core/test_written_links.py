import pytest

from core.written_links import html_written_links
from delivery.links import html_track

BASE = "https://mail.example.com"


@pytest.mark.parametrize(
    "source",
    [
        '<p>İİİİİ</p><!-- c --><p><a href="https://shop.example/sale">Sale</a> '
        '<a href="https://shop.example/new">New</a></p>',
        "<h1>İNDİRİM İÇİN İLK ADIM</h1><!--[if mso]><table><tr><td><![endif]-->"
        '<p><a href="https://shop.example/sale">Sale</a> <a href="https://shop.example/new">New</a></p>'
        "<!--[if mso]></td></tr></table><![endif]-->",
        '<title>İNDİRİM</title><a href="https://shop.example/sale">Sale</a> '
        '<a href="https://shop.example/new">New</a>',
    ],
    ids=["repro", "outlook conditional comments", "title"],
)
def test_links_after_a_letter_whose_lower_case_is_longer_are_written_and_tracked(source):
    assert html_written_links(source).exact == {"https://shop.example/sale", "https://shop.example/new"}
    seen: list[str] = []

    def click(url: str) -> str:
        seen.append(url)
        return f"{BASE}/c/{len(seen)}"

    out = html_track(source, click_url=click, pixel_url=None, written=html_written_links(source))

    assert seen == ["https://shop.example/sale", "https://shop.example/new"]
    # The HTML written back is the source but for its links.
    assert out == source.replace("https://shop.example/sale", f"{BASE}/c/1").replace(
        "https://shop.example/new", f"{BASE}/c/2"
    )


def test_an_href_svg_hides_is_never_written_whatever_letters_come_before_it():
    # Cut where the link reader starts to misread SVG, this HTML keeps no part of its CDATA: cut
    # as many characters further on as "İ" lengthened its lower case, it would hold the link.
    source = "İ" * 60 + '<svg><![CDATA[ > <a href="https://partner.example/"> ]]></svg>'
    assert html_written_links(source).exact == frozenset()
