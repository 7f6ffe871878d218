"""The browser tests' page: Playwright driving Debian's chromium, headless (tests/browser/pages.py
holds the steps a person takes on it)."""

import pytest
from django.db import connections

from tests.browser.pages import CHROMIUM, SHOTS
from tests.conftest import _services_required


@pytest.fixture
def browser(monkeypatch):
    """Yield a headless chromium page; without chromium or Playwright, skip (fail in CI)."""
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # plain synchronous code all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or CHROMIUM is None:
        reason = "needs Playwright and chromium (apt-get install chromium)"
        if _services_required():
            pytest.fail(f"The browser test {reason}.")
        pytest.skip(reason)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(15_000)
        # What the Content-Security-Policy refused, as chromium reports it on the console.
        page.csp_refusals = []
        page.on(
            "console",
            lambda message: (
                page.csp_refusals.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )
        page.overflowing, page.clicks = [], 0
        yield page
        chromium.close()
        # Playwright runs the test in a greenlet of its own, which Django sees as another context
        # with its own connection: close it, or the test database can't be dropped at the end.
        connections.close_all()
