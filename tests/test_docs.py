"""The documentation holds together: every relative link and image in README.md and docs/ points at a
file (and a heading, for an anchor), mkdocs.yml's nav lists exactly the pages under docs/, and prose
lines stay readable. A small Markdown reader stands in for `make docs` (mkdocs build --strict), which
checks the same things on the built site but takes seconds and needs MkDocs installed."""

import re
import unicodedata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
# README.md is read on GitHub, the pages under docs/ on the built site; the Artillery README links
# back into docs/ too.
DOCUMENTS = [ROOT / "README.md", ROOT / "loadtest" / "README.md", *PAGES]
#: Longest prose line; tables, code blocks and link definitions may run longer.
MAX_LINE = 110

_FENCE = re.compile(r"^ *(```|~~~).*?^ *\1 *$", re.S | re.M)
_CODE_SPAN = re.compile(r"`[^`\n]+`")
# [text](target) and ![alt](target), the text possibly wrapped over lines; [label]: target.
_INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def _prose(text: str) -> str:
    """Return the Markdown without fenced code blocks and code spans, where links are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """Return a heading's anchor as Python-Markdown's toc extension (MkDocs) makes it."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # A link in a heading keeps its text.
    text = re.sub(r"[*_]{1,2}([^*_]+)[*_]{1,2}", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(path: Path) -> set[str]:
    return {_slug(title) for title in _HEADING.findall(_FENCE.sub("", path.read_text()))}


def _targets(path: Path) -> list[str]:
    prose = _prose(path.read_text())
    return [*_INLINE_LINK.findall(prose), *_REFERENCE.findall(prose)]


def _links() -> list[tuple[str, str]]:
    return [
        (str(doc.relative_to(ROOT)), target)
        for doc in DOCUMENTS
        for target in _targets(doc)
        if not _EXTERNAL.match(target)
    ]


@pytest.mark.parametrize(("doc", "target"), _links())
def test_every_relative_link_and_image_resolves(doc, target):
    source = ROOT / doc
    address, _, anchor = target.partition("#")
    resolved = (source.parent / address).resolve() if address else source
    assert resolved.is_file(), f"{doc}: {target!r} names no file"
    if anchor:
        assert resolved.suffix == ".md", f"{doc}: {target!r}: an anchor into a file that is not a page"
        assert anchor in _anchors(resolved), f"{doc}: {target!r}: no heading makes #{anchor}"


def test_pages_link_only_inside_the_site():
    """The built site holds docs/ alone: a page's link out of it would break there."""
    leaving = [
        (str(page.relative_to(ROOT)), target)
        for page in PAGES
        for target in _targets(page)
        if not _EXTERNAL.match(target)
        and target.partition("#")[0]
        and DOCS not in (page.parent / target.partition("#")[0]).resolve().parents
    ]
    assert leaving == []


def _nav_pages(entries) -> list[str]:
    found = []
    for entry in entries:
        if isinstance(entry, str):
            found.append(entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                found += _nav_pages(value) if isinstance(value, list) else [value]
    return found


def test_the_nav_lists_every_page_once_and_nothing_else():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = _nav_pages(config["nav"])
    pages = sorted(str(page.relative_to(DOCS)) for page in PAGES)
    assert sorted(listed) == pages
    assert len(listed) == len(set(listed))


def test_the_benchmarks_live_in_docs():
    assert not (ROOT / "BENCHMARKS.md").exists()
    summary = (DOCS / "benchmarks" / "index.md").read_text()
    for script in sorted((ROOT / "benchmarks").glob("[!_]*.py")):
        if script.stem not in {"settings", "urls", "gunicorn_webhook"}:
            page = DOCS / "benchmarks" / f"{script.stem.replace('_', '-')}.md"
            assert page.is_file(), f"{script.name} has no page"
            assert f"benchmarks/{script.name}" in summary, f"the summary does not run {script.name}"


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("doc", [str(doc.relative_to(ROOT)) for doc in [ROOT / "README.md", *PAGES]])
def test_prose_lines_stay_readable(doc):
    text = _FENCE.sub("", (ROOT / doc).read_text())
    long = [
        line
        for line in text.splitlines()
        if len(line) > MAX_LINE and not line.lstrip().startswith("|") and not _REFERENCE.match(line)
    ]
    assert long == []
