"""The admin and the public pages in German: a complete catalog, chosen by the browser or the switcher."""

import ast
import io
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from campaigns import services as campaign_services
from delivery import services as delivery_services
from delivery import tokens
from tests.factories import StepExecutionFactory, sendable_campaign
from tests.utils import role_client

CATALOG = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"
#: django-unfold's own strings: its release ships no German (manage.py unfoldmessages).
VENDOR_CATALOG = Path(settings.BASE_DIR) / "locale" / "vendor" / "de" / "LC_MESSAGES" / "django.po"
CATALOGS = pytest.mark.parametrize("catalog", [CATALOG, VENDOR_CATALOG], ids=["project", "unfold"])
_FIELD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$')


def _entries(catalog: Path = CATALOG) -> list[dict]:
    """Return the catalog's entries (the header left out): each field's text, and its flags."""
    entries = []
    for block in catalog.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, list[str]] = {}
        flags: list[str] = []
        field = None
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += [flag.strip() for flag in line[2:].split(",")]
            elif match := _FIELD.match(line):
                field = match.group(1)
                fields[field] = [match.group(2)]
            elif line.startswith('"') and field:
                fields[field].append(line)
        if "msgid" not in fields:
            continue
        entry = {name: "".join(ast.literal_eval(part) for part in parts) for name, parts in fields.items()}
        if entry["msgid"]:
            entries.append({**entry, "flags": flags})
    return entries


@CATALOGS
def test_the_german_catalog_translates_every_entry_and_none_is_fuzzy(catalog):
    entries = _entries(catalog)
    assert len(entries) > 150
    untranslated = [
        entry["msgid"] for entry in entries if not all(v for k, v in entry.items() if k.startswith("msgstr"))
    ]
    assert untranslated == []
    assert [entry["msgid"] for entry in entries if "fuzzy" in entry["flags"]] == []
    assert "#, fuzzy" not in catalog.read_text(encoding="utf-8")  # Nor the header.


@CATALOGS
def test_the_compiled_catalog_says_what_the_po_file_says(catalog):
    """The .mo is committed (CI may lack gettext): it must be compiled from the .po as it is now.
    The project's catalog comes first, so the unfold one is checked for the strings it alone has."""
    ours = {entry["msgid"] for entry in _entries(CATALOG)} if catalog == VENDOR_CATALOG else set()
    stale = []
    with translation.override("de"):
        for entry in (entry for entry in _entries(catalog) if entry["msgid"] not in ours):
            if "msgid_plural" in entry:
                said = translation.ngettext(entry["msgid"], entry["msgid_plural"], 1)
                wanted = entry["msgstr[0]"]
            elif "msgctxt" in entry:
                said = translation.pgettext(entry["msgctxt"], entry["msgid"])
                wanted = entry["msgstr"]
            else:
                said, wanted = translation.gettext(entry["msgid"]), entry["msgstr"]
            if said != wanted:
                stale.append(entry["msgid"])
    assert stale == []


def _sent_campaign(name: str):
    campaign = sendable_campaign(contacts=2, name=name)
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    campaign.refresh_from_db()
    return campaign


@pytest.mark.django_db
def test_a_marketer_whose_browser_asks_for_german_gets_the_admin_in_german(ses):
    campaign = _sent_campaign("Frühlingsangebot")
    client = role_client("Marketers")

    home = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    progress = client.get(
        reverse("admin:campaigns_campaign_progress", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    report = client.get(
        reverse("admin:campaigns_campaign_report", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()

    assert 'lang="de"' in home
    for german in ("Kampagnen", "Zielgruppe", "Kontostatus", "Neue Kampagne"):
        assert german in home, german
    for german in ("Fortschritt", "Bericht", "erledigt: 2 von 2 E-Mails", "Gesendet", "Alle"):
        assert german in progress, german
    for german in ("Empfänger", "Zugestellt", "Quoten", "Öffnung (Personen)", "Beschwerden"):
        assert german in report, german
    assert "Recipients" not in report


@pytest.mark.django_db
def test_choices_and_the_themes_own_words_are_german_too():
    from campaigns.models import Suppression

    Suppression.objects.create(email="gone@example.com", reason=Suppression.Reason.MANUAL)
    client = role_client("Administrators")

    home = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    suppressions = client.get(
        reverse("admin:campaigns_suppression_changelist"), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    key_form = client.get(reverse("admin:core_apikey_add"), HTTP_ACCEPT_LANGUAGE="de").content.decode()

    for german in ("E-Mail-Kampagnen", "Hell", "Dunkel"):  # The subheader; unfold's theme switch.
        assert german in home, german
    for english in ("Email campaigns", ">Dark<", ">Light<"):
        assert english not in home, english
    assert "Von Hand hinzugefügt" in suppressions
    assert "Added by hand" not in suppressions
    assert "Transaktionale E-Mails einreihen" in key_form  # A scope, with what it allows.
    assert "Need not be unique" not in key_form  # The API-key library's own help, replaced.


@pytest.mark.django_db
def test_english_stays_the_default():
    page = role_client("Marketers").get(reverse("admin:index")).content.decode()
    assert 'lang="en"' in page
    assert "Campaigns" in page
    assert "Kampagnen" not in page


@pytest.mark.django_db
def test_the_public_unsubscribe_page_speaks_the_readers_language():
    row = StepExecutionFactory()
    token = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)

    german = Client().get(f"/u/{token}", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5").content.decode()
    english = Client().get(f"/u/{token}").content.decode()

    assert '<html lang="de">' in german
    assert "Ihre E-Mail-Einstellungen" in german
    assert "Von allen Marketing-E-Mails abmelden" in german
    assert '<html lang="en">' in english
    assert "Your email preferences" in english


@pytest.mark.django_db
def test_the_language_switcher_sets_german_for_the_admin():
    client = role_client("Marketers")

    switched = client.post("/i18n/setlang/", {"language": "de", "next": reverse("admin:index")})

    assert switched.status_code == 302
    assert switched.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    page = client.get(reverse("admin:index")).content.decode()  # No Accept-Language: the cookie decides.
    assert "Kampagnen" in page
    assert 'lang="de"' in page


@pytest.mark.django_db
def test_a_marketer_reads_the_campaigns_models_and_fields_by_their_german_names():
    campaign = sendable_campaign(contacts=1, name="Frühlingsangebot")
    sendable_campaign(contacts=1, name="Sommerangebot")
    client = role_client("Marketers")

    listing = client.get(
        reverse("admin:campaigns_campaign_changelist"), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    change = client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()

    for german in ("Zielgruppe und Kampagnen", "Ausgewählte Kampagnen löschen", "Kampagnen"):
        assert german in listing, german
    assert re.search(r"2\s+Kampagnen", listing)  # The footer's count.
    assert "Delete selected campaigns" not in listing
    assert "Audience and campaigns" not in listing
    assert not re.search(r"2\s+campaigns", listing)
    labels = {"from_email": "Von", "reply_to": "Antwort an", "configuration_set": "Konfigurationssatz"}
    for field, german in labels.items():
        assert f'for="id_{field}">{german}<' in change, german
    for german in ("Geplant für", "Wochentage für den Versand", "Erstellt am"):
        assert german in change, german
    for english in ("From email", "Reply to", "Scheduled at", "Configuration set", "Created at"):
        assert english not in change, english


@pytest.mark.django_db
def test_the_send_log_calls_its_rows_emails_never_step_executions():
    StepExecutionFactory()
    client = role_client("Marketers")

    page = client.get(reverse("admin:delivery_stepexecution_changelist")).content.decode()
    german = client.get(
        reverse("admin:delivery_stepexecution_changelist"), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()

    title = re.search(r"<h1\b.*?</h1>", page, re.S)
    assert title is not None
    changelist = reverse("admin:delivery_stepexecution_changelist")
    assert re.search(rf'<a href="{changelist}"[^>]*>\s*Emails\s*</a', title.group())
    assert re.search(r"<title>\s*Select email to view\b", page)
    assert re.search(r"\b1\s+email\b", page)  # The footer's count.
    assert "SES message id" in page
    assert "step execution" not in page.lower()
    assert "E-Mails" in german
    assert "SES-Nachrichten-ID" in german


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext, as makemessages does")
def test_the_unfold_catalog_holds_every_string_of_the_installed_unfold_translated(tmp_path, settings):
    """After an upgrade of django-unfold this fails until `manage.py unfoldmessages` is run and
    its new strings translated."""
    from django.core.management import call_command

    copy = tmp_path / VENDOR_CATALOG.relative_to(settings.BASE_DIR)
    copy.parent.mkdir(parents=True)
    shutil.copy(VENDOR_CATALOG, copy)
    settings.BASE_DIR = tmp_path

    call_command("unfoldmessages", stdout=io.StringIO())

    refreshed = {entry["msgid"]: entry for entry in _entries(copy)}
    committed = {entry["msgid"]: entry for entry in _entries(VENDOR_CATALOG)}
    assert sorted(refreshed) == sorted(committed)
    assert [msgid for msgid, entry in refreshed.items() if not entry.get("msgstr", "x")] == []
    assert "Search apps and models..." in refreshed


@pytest.mark.django_db
def test_what_the_services_refuse_reads_in_german_on_german_pages(ses):
    from django.contrib.messages import get_messages

    from tests.factories import SuppressionFactory

    campaign = sendable_campaign(contacts=1, name="Frühling")
    SuppressionFactory(email="angry@campanile.test", reason="complaint")
    client = role_client("Marketers")
    german = {"HTTP_ACCEPT_LANGUAGE": "de"}

    tested = client.post(
        reverse("admin:campaigns_campaign_test_send", args=[campaign.pk]),
        {"step": "1", "contact": "", "addresses": "angry@campanile.test"},
        follow=True,
        **german,
    )
    paused = client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "campaign_pause", "_selected_action": [campaign.pk]},
        follow=True,
        **german,
    )
    added = client.post(reverse("admin:campaigns_contact_add"), {"email": "x@[192.0.2.1]"}, **german)

    said = " ".join(str(m) for m in get_messages(tested.wsgi_request))
    assert "Auf der Sperrliste, daher nie angeschrieben: angry@campanile.test (Beschwerde)." in said
    said = " ".join(str(m) for m in get_messages(paused.wsgi_request))
    assert "„Pausieren“ ist bei der Kampagne „Frühling“ nicht möglich: ihr Status ist Entwurf" in said
    refused = "'x@[192.0.2.1]' ist keine gültige Adresse: schreiben Sie einen Domainnamen, keine IP-Adresse."
    assert refused in added.content.decode().replace("&#x27;", "'")


def test_no_word_a_marketer_reads_is_the_engines_jargon():
    """Every string marked for translation is one a person reads: none names the engine's parts."""
    jargon = re.compile(r"\b(step executions?|sequences?|evergreen|not reported)\b", re.IGNORECASE)

    assert [entry["msgid"] for entry in _entries() if jargon.search(entry["msgid"])] == []


def test_a_count_a_marketer_reads_agrees_with_its_noun_one_or_many():
    """A count that may be 1 is written through ngettext: "1 contact added", never "1 contacts"
    nor "1 campaign(s)". Limits, which are never 1, may stay in one form."""
    noun = r"(contacts?|rows?|emails?|addresses|campaigns?|recipients?|keys?|alerts?|steps?|cells?)"
    counted = re.compile(
        rf"(%\((n|count|rows|done|total|added|already|left|changed)\)[sd]|\b1) (\w+ )?{noun}\b|\(s\)"
    )
    limit = re.compile(r"more than|at most|limit|first %|1 to %", re.IGNORECASE)

    one_form = [
        entry["msgid"]
        for entry in _entries()
        if "msgid_plural" not in entry and counted.search(entry["msgid"]) and not limit.search(entry["msgid"])
    ]

    assert one_form == []


@pytest.mark.django_db
def test_refusals_name_a_test_recipient_a_recipient_and_write_numbers_as_the_reader_does(ses):
    from django.contrib.messages import get_messages
    from django.core.exceptions import ValidationError

    from campaigns.render_limits import MAX_SOURCE_CHARS
    from campaigns.rendering import template_validate
    from tests.factories import TemplateFactory

    campaign = sendable_campaign(contacts=1)
    client = role_client("Marketers")

    tested = client.post(
        reverse("admin:campaigns_campaign_test_send", args=[campaign.pk]),
        {"step": "1", "contact": "", "addresses": "Me <me@[192.0.2.1]>"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="de",
    )
    with translation.override("de"), pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body="x" * (MAX_SOURCE_CHARS + 1)))

    said = " ".join(str(m) for m in get_messages(tested.wsgi_request))
    assert "ist kein gültiger Empfänger" in said
    assert "Absender" not in said
    assert f"{MAX_SOURCE_CHARS:,}".replace(",", ".") in str(refused.value)  # 500.000, not 500,000.
