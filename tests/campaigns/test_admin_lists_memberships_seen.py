"""Who is on which list is shown, searched, changed and imported into from the list pages only by who
may see (or change) list memberships."""

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from campaigns.models import ContactImport
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from tests.utils import role_client, staff_login

pytestmark = pytest.mark.django_db


def _narrow(*codenames: str):
    """Return a client of a staff member holding only these permissions (none on memberships)."""
    user = User.objects.create_user(username="narrow", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    staff_login(client, user)
    return client


def _secret_list():
    """Return a list with one member, Ada, beside Bob, a contact on no list."""
    secret = ContactListFactory(name="Rehab clinic patients")
    ListMembershipFactory(
        contact=ContactFactory(email="ada@example.com", first_name="Ada"), contact_list=secret
    )
    ContactFactory(email="bob@example.com")
    return secret


def test_the_list_page_shows_and_searches_its_members_only_to_who_may_see_memberships():
    secret = _secret_list()
    narrow = _narrow("view_contact", "view_contactlist")
    url = reverse("admin:campaigns_contactlist_change", args=[secret.pk])

    hidden = [narrow.get(url), narrow.get(url, {"q": "ada"})]
    marketers = role_client("Marketers")
    shown = [marketers.get(url, {"q": query}).content.decode() for query in ("", "ada")]

    assert [answer.status_code for answer in hidden] == [200, 200]  # The list itself is seen.
    assert all("Rehab clinic patients" in answer.content.decode() for answer in hidden)
    assert all("ada@example.com" not in answer.content.decode() for answer in hidden)
    assert all('id="members"' not in answer.content.decode() for answer in hidden)
    assert all("ada@example.com" in page for page in shown)


def test_adding_members_by_address_on_the_list_page_needs_the_right_to_add_memberships():
    secret = _secret_list()
    narrow = _narrow("view_contact", "view_contactlist", "change_contactlist", "change_contact")
    url = reverse("admin:campaigns_contactlist_members_add", args=[secret.pk])
    page = reverse("admin:campaigns_contactlist_change", args=[secret.pk])

    refused = narrow.post(url, {"addresses": "bob@example.com"})
    marketers = role_client("Marketers")
    offered = marketers.get(page).content.decode()

    assert refused.status_code == 403
    assert set(secret.contacts.values_list("email", flat=True)) == {"ada@example.com"}
    assert 'id="members-add"' in offered
    assert marketers.post(url, {"addresses": "bob@example.com"}).status_code == 302
    assert set(secret.contacts.values_list("email", flat=True)) == {"ada@example.com", "bob@example.com"}


def test_removing_members_on_the_list_page_needs_the_right_to_delete_memberships():
    secret = _secret_list()
    ada = secret.contacts.get()
    codenames = ["view_contact", "view_contactlist", "change_contactlist", "change_contact"]
    narrow = _narrow(*codenames, "view_listmembership", "add_listmembership")
    url = reverse("admin:campaigns_contactlist_members_remove", args=[secret.pk])
    page = reverse("admin:campaigns_contactlist_change", args=[secret.pk])

    seen = narrow.get(page).content.decode()
    refused = narrow.post(url, {"member": [ada.pk]})

    assert "ada@example.com" in seen  # Who may see memberships sees the members...
    assert 'name="member"' not in seen  # ...but is offered no ticks to remove them.
    assert refused.status_code == 403
    assert list(secret.contacts.all()) == [ada]
    assert role_client("Marketers").post(url, {"member": [ada.pk]}).status_code == 302
    assert not secret.contacts.exists()


def test_deleting_a_list_names_its_members_only_to_who_may_see_memberships():
    secret = _secret_list()
    narrow = _narrow("view_contact", "view_contactlist", "delete_contactlist")
    url = reverse("admin:campaigns_contactlist_delete", args=[secret.pk])

    asked = narrow.get(url)
    again = role_client("Marketers").get(url).content.decode()

    assert asked.status_code == 200
    assert "Rehab clinic patients" in asked.content.decode()  # The list itself is named.
    assert "ada@example.com" not in asked.content.decode()
    assert "ada@example.com" in again


def _mapping_page(client) -> str:
    upload = SimpleUploadedFile("leads.csv", b"Email\nbob@example.com\n", content_type="text/csv")
    return client.post(reverse("admin:campaigns_contactimport_add"), {"file": upload}).url


def _start(client, url: str, secret) -> int:
    job = ContactImport.objects.get(pk=url.rstrip("/").split("/")[-2])
    fields = {f"target_{n}": column["target"] for n, column in enumerate(job.mapping)}
    fields |= {f"attribute_{n}": column["attribute"] for n, column in enumerate(job.mapping)}
    fields |= {"consent_basis": "consent", "existing": "update", "unsubscribed": "keep", "_start": "1"}
    return client.post(url, fields | {"lists": [secret.pk]}).status_code


def test_the_import_offers_and_fills_lists_only_to_who_may_add_memberships(
    django_capture_on_commit_callbacks,
):
    secret = _secret_list()
    importer = [f"{verb}_contactimport" for verb in ("add", "change", "view")]
    narrow = _narrow(*importer, "add_contact", "change_contact", "view_contact", "view_contactlist")
    marketers = role_client("Marketers")

    narrow_url, marketers_url = _mapping_page(narrow), _mapping_page(marketers)
    offered = narrow.get(narrow_url).content.decode(), marketers.get(marketers_url).content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        refused = _start(narrow, narrow_url, secret)
        started = _start(marketers, marketers_url, secret)

    assert 'name="lists"' not in offered[0]
    assert "Rehab clinic patients" not in offered[0]
    assert 'name="lists"' in offered[1]
    assert refused == 403
    assert list(
        ContactImport.objects.filter(lists=secret).values_list("created_by__username", flat=True)
    ) == ["marketers"]
    assert started == 302


def test_a_campaigns_preview_and_test_send_use_the_sample_for_who_may_not_see_memberships(ses):
    from tests.conftest import sent_messages
    from tests.factories import CampaignStepFactory, TemplateFactory

    secret = ContactListFactory(name="Rehab clinic patients")
    ListMembershipFactory(contact=ContactFactory(email="carol@example.com"), contact_list=secret)
    template = TemplateFactory(subject="For {{ contact.email }}", html_body="<p>Hi {{ contact.email }}</p>")
    step = CampaignStepFactory(template=template, campaign__from_email="news@campanile.test")
    step.campaign.lists.add(secret)
    narrow = _narrow("view_contact", "view_campaign", "change_campaign")
    narrow_user = User.objects.get(username="narrow")
    narrow_user.email = "tester@campanile.test"
    narrow_user.save()
    preview = reverse("admin:campaigns_campaign_preview", args=[step.campaign.pk])
    test_send = reverse("admin:campaigns_campaign_test_send", args=[step.campaign.pk])

    hidden = narrow.get(preview).content.decode()
    sent = narrow.post(test_send, {"addresses": "tester@campanile.test", "contact": "", "step": "1"})
    shown = role_client("Marketers").get(preview).content.decode()

    assert "carol@example.com" not in hidden
    assert "nobody's data" in hidden.replace("&#x27;", "'")
    assert sent.status_code == 302
    (message,) = sent_messages()
    assert "carol@example.com" not in message.raw_data
    assert "For carol@example.com" in shown  # Who may see memberships previews its first member.
