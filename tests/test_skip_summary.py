"""A run without PostgreSQL or Redis ends by saying how many tests it skipped and how to run them."""

from types import SimpleNamespace

from tests.conftest import NEEDS_POSTGRES, NEEDS_REDIS, skips_summarize


class _Reporter:
    def __init__(self, skipped: list[str]):
        self.stats = {"skipped": [SimpleNamespace(longrepr=("file.py", 1, f"Skipped: {r}")) for r in skipped]}
        self.lines: list[str] = []

    def write_line(self, line: str, **markup) -> None:
        self.lines.append(line)


def test_skips_for_want_of_a_server_are_counted_in_one_line_with_the_way_to_run_them():
    reporter = _Reporter([NEEDS_POSTGRES, NEEDS_REDIS, NEEDS_POSTGRES, "needs chromium"])
    skips_summarize(reporter)
    (line,) = reporter.lines
    assert line.startswith("3 tests skipped for want of PostgreSQL or Redis")
    assert "`make test`" in line


def test_a_run_with_every_server_says_nothing_more():
    reporter = _Reporter(["needs chromium"])
    skips_summarize(reporter)
    assert reporter.lines == []
