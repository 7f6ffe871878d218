"""A real browser through the marketer's audience: import 10,000 contacts from a CSV file with a bad
row (upload, map, check, start, watch), read what was not imported, then find them on their list
and act on a selection. Screenshots go to var/screenshots/ (and the admin guide's images)."""

import pytest

from campaigns import import_jobs
from campaigns.models import Contact, ContactConsent, ContactImport
from tests.browser.pages import click, marketer_logged_in, shot
from tests.factories import ContactFactory, ContactListFactory

ROWS = 10_000


def _file(tmp_path) -> str:
    lines = ["E-Mail;Vorname;Nachname;Plan"]
    lines += [f"kunde{n}@example.com;Kim{n};Müller;{'pro' if n % 4 else 'free'}" for n in range(ROWS - 1)]
    lines.insert(5000, "keine-adresse;Kaputt;Zeile;pro")  # A bad row, line 5,001.
    path = tmp_path / "messe-2026.csv"
    path.write_text("\n".join(lines) + "\n", encoding="cp1252")  # As German Excel saves it.
    return str(path)


@pytest.mark.django_db(transaction=True)
def test_a_marketer_imports_a_file_and_works_with_the_list_in_a_browser(
    browser, live_server, monkeypatch, tmp_path
):
    page = browser
    queued = []
    monkeypatch.setattr(import_jobs, "_enqueue", queued.append)  # The worker runs below, in the test.
    fair = ContactListFactory(name="Trade fair 2026")
    ContactFactory(email="kunde7@example.com", first_name="Old")  # Already a contact.
    marketer_logged_in(page, live_server.url)

    click(page, "#nav-sidebar-apps >> text=Contacts")
    click(page, "text=Import contacts")
    page.set_input_files("#id_file", _file(tmp_path))
    shot(page, "20-import-upload")
    click(page, "#import-upload input[type=submit]")
    page.wait_for_selector("#import-columns")
    assert "10,000 rows · 4 columns" in page.inner_text("#content")
    assert "Windows-1252, cells separated by semicolons" in page.inner_text("#content")
    # Guessed: E-Mail is the address, Vorname and Nachname the names, Plan an attribute.
    assert page.input_value("#id_target_0") == "email"
    assert page.input_value("#id_target_1") == "first_name"
    assert page.input_value("#id_target_3") == "attribute"
    preview = page.inner_text("#import-preview")
    assert "Already a contact" in preview
    assert "New contact" in preview
    click(page, "text=Trade fair 2026")
    click(page, "#id_consent_basis_0")
    page.fill("#id_consent_note", "Trade fair 2026 sign-up sheet")
    shot(page, "21-import-mapping")
    click(page, "#import-start")
    page.wait_for_selector("#import-progress")
    assert "Waiting for a worker." in page.inner_text("#import-progress")
    shot(page, "22-import-queued")

    (job_id,) = queued
    import_jobs.contact_import_run(job_id=job_id)  # What a worker does.

    page.wait_for_selector("#import-status:has-text('Done')", timeout=15_000)  # The page follows it.
    job = ContactImport.objects.get(pk=job_id)
    assert (job.created, job.updated, job.failed) == (ROWS - 2, 1, 1)
    counts = page.inner_text("#import-counts")
    assert "9,998" in counts
    assert "1" in page.inner_text("#import-failed")
    assert "keine-adresse" in page.inner_text("#import-errors")
    with page.expect_download() as download:
        click(page, "#import-error-report")
    assert "keine-adresse;" not in download.value.path().read_text()  # Written as CSV with commas…
    assert "keine-adresse,Kaputt,Zeile,pro,5001," in download.value.path().read_text()  # …line and why.
    shot(page, "23-import-done")
    assert fair.contacts.count() == ROWS - 1
    assert ContactConsent.objects.filter(detail__endswith="Trade fair 2026 sign-up sheet").count() == ROWS - 1
    assert (
        Contact.objects.get(email="kunde7@example.com").first_name,
        Contact.objects.get(email="kunde7@example.com").last_name,
    ) == ("Kim7", "Müller")

    # The list, with its members: search them, then unsubscribe one from the contact list.
    click(page, "#import-progress >> text=Trade fair 2026")
    page.wait_for_selector("#members-table")
    assert "Members (9,999)" in page.inner_text("#members")
    page.fill("#members-search input[name=q]", "kunde42@")
    click(page, "#members-search input[type=submit]")
    page.wait_for_selector("#members-table >> text=kunde42@example.com")
    assert "Members (9,999), 1 matching" in page.inner_text("#members")
    shot(page, "24-list-members")
    page.goto(f"{live_server.url}/admin/campaigns/contact/?q=kunde42%40")
    click(page, "#result_list input.action-select >> nth=0")
    page.select_option("select[name=action]", "unsubscribe")
    click(page, "#changelist-actions button[name=index]")
    page.wait_for_selector("#contact-action-form")
    page.fill("#id_reason", "Asked at the booth")
    shot(page, "25-contact-action")
    click(page, "#contact-action-form input[name=apply]")
    page.wait_for_selector(".messagelist .success, .messagelist li")
    assert Contact.objects.get(email="kunde42@example.com").status == Contact.Status.UNSUBSCRIBED
    assert page.overflowing == [], "\n".join(page.overflowing)
    assert page.csp_refusals == []
