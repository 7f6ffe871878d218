"""A real browser through the transactional emails list: a marketer sees the shop's emails, not a
load test's, until they ask. Screenshots go to var/screenshots/."""

import pytest

from core.services import api_key_create
from tests.browser.pages import marketer_logged_in, shot
from tests.factories import ContactFactory, TransactionalMessageFactory


@pytest.mark.django_db(transaction=True)
def test_a_marketer_reads_the_transactional_emails_without_a_load_tests(browser, live_server):
    page = browser
    TransactionalMessageFactory(contact=ContactFactory(email="ada@example.com"))
    load_test_key = api_key_create(name="load test lt01", is_load_test=True)[0]
    TransactionalMessageFactory(contact=ContactFactory(email="lt-1@loadtest.invalid"), api_key=load_test_key)
    marketer_logged_in(page, live_server.url)

    page.goto(f"{live_server.url}/admin/delivery/transactionalmessage/")
    listed = page.inner_text("#main")
    shot(page, "80-transactional-emails")

    assert "ada@example.com" in listed
    assert "lt-1@loadtest.invalid" not in listed
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert "API KEY" in [header.strip().upper() for header in headers]
    assert "Api key" not in listed
    page.goto(f"{live_server.url}/admin/delivery/transactionalmessage/?load_test=shown")
    assert "lt-1@loadtest.invalid" in page.inner_text("#main")
