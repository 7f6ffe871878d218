"""What a list page's address may ask: lookups no address can give, and searches too long to run."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Contact
from tests.factories import CampaignFactory, ContactFactory
from tests.utils import role_client

pytestmark = pytest.mark.django_db

CONTACTS = "admin:campaigns_contact_changelist"
REFUSED = "That filter or selection could not be applied"
LIMIT = "Search with at most 10 words and 200 characters."
ELEVEN_WORDS = " ".join(["e"] * 11)


def _ran_a_search(queries) -> bool:
    """Tell whether a search's LIKE went to the database (Django's icontains is UPPER(…) LIKE)."""
    return any(" LIKE " in query["sql"].upper() for query in queries)


@pytest.mark.parametrize(
    ("list_name", "query"),
    [
        (CONTACTS, "id__range=1"),
        (CONTACTS, "email__range=a"),
        (CONTACTS, "unsubscribed_at__range=1"),
        (CONTACTS, "email__range=a,b"),  # One character per bound: more parameters than placeholders.
        (CONTACTS, "created_at__year__range=1"),
        (CONTACTS, "attributes__plan__range=1"),
        ("admin:campaigns_campaign_changelist", "name__range=a"),
        ("admin:campaigns_contactimport_changelist", "data=x"),  # Text where bytes are bound.
        ("admin:campaigns_contactimport_changelist", "data__in=a,b"),
    ],
)
def test_a_list_asked_for_a_lookup_no_address_can_give_goes_back_to_the_plain_list_with_a_message(
    list_name, query
):
    ContactFactory()
    client = role_client("Marketers")

    response = client.get(f"{reverse(list_name)}?{query}")

    assert response.status_code == 302
    assert response["Location"] == reverse(list_name)
    assert REFUSED in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("list_name", "query"),
    [
        (CONTACTS, "email__regex=(.*){1,255}(.*){1,255}Q"),
        (CONTACTS, "first_name__iregex=a"),
        (CONTACTS, "attributes__plan__regex=x"),
        ("admin:delivery_stepexecution_changelist", "contact__email__regex=x"),
    ],
)
def test_a_list_asked_for_a_regular_expression_runs_no_query_and_says_why(list_name, query):
    ContactFactory()
    client = role_client("Marketers")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{reverse(list_name)}?{query}")

    assert response.status_code == 302
    assert response["Location"] == reverse(list_name)
    assert not any("REGEX" in q["sql"].upper() or " ~" in q["sql"] for q in queries)
    assert (
        "a regular expression cannot be given in the address"
        in client.get(response["Location"]).content.decode()
    )


def test_an_action_on_a_list_asked_for_a_range_is_not_run():
    contact = ContactFactory()
    client = role_client("Marketers")
    form = {
        "action": "unsubscribe",
        "_selected_action": [contact.pk],
        "apply": "1",
        "reason": "Asked by phone",
    }

    response = client.post(f"{reverse(CONTACTS)}?id__range=1", form)

    assert response.status_code == 302
    assert response["Location"] == reverse(CONTACTS)
    assert REFUSED in client.get(response["Location"]).content.decode()
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED


@pytest.mark.parametrize(
    "list_name", [CONTACTS, "admin:campaigns_campaign_changelist", "admin:delivery_stepexecution_changelist"]
)
@pytest.mark.parametrize("search", [ELEVEN_WORDS, "e" * 201], ids=["11-words", "201-characters"])
def test_a_search_of_more_than_ten_words_or_200_characters_runs_no_query_and_says_the_limit(
    list_name, search
):
    ContactFactory(first_name="Eve")
    CampaignFactory(name="Eve's welcome")
    client = role_client("Marketers")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(list_name), {"q": search, "status": "subscribed", "p": "2"})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse(list_name)}?status=subscribed"  # The filter kept.
    assert not _ran_a_search(queries)
    assert LIMIT in client.get(response["Location"]).content.decode()


def test_a_search_of_ten_words_runs_as_before():
    ContactFactory(first_name="Eve", last_name="e")
    client = role_client("Marketers")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(CONTACTS), {"q": " ".join(["e"] * 10)})

    assert response.status_code == 200
    assert _ran_a_search(queries)
    assert "Eve" in response.content.decode()
    assert LIMIT not in response.content.decode()


def test_an_action_on_a_list_searched_past_the_limit_is_not_run():
    contact = ContactFactory()
    client = role_client("Marketers")
    form = {
        "action": "unsubscribe",
        "select_across": "1",
        "_selected_action": [contact.pk],
        "apply": "1",
        "reason": "Asked by phone",
    }

    response = client.post(f"{reverse(CONTACTS)}?q={ELEVEN_WORDS.replace(' ', '+')}", form)

    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED
    assert response.status_code == 302
    assert response["Location"] == reverse(CONTACTS)


def test_a_suggestions_search_past_the_limit_is_refused_with_the_limit():
    client = role_client("Marketers")
    asked = {"app_label": "campaigns", "model_name": "campaignstep", "field_name": "template"}

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:autocomplete"), {**asked, "term": ELEVEN_WORDS})

    assert response.status_code == 400
    assert response.json() == {"error": LIMIT}
    assert not _ran_a_search(queries)


def test_the_admins_own_search_past_the_limit_is_refused_with_the_limit():
    client = role_client("Marketers")

    response = client.get(reverse("admin:search"), {"s": ELEVEN_WORDS})

    assert response.status_code == 400
    assert response.content.decode() == LIMIT


def test_a_hidden_field_or_a_secret_is_never_a_filter_so_no_prefix_reads_it_out(admin_client):
    from core.models import ApiKey
    from tests.factories import TOTPDeviceFactory, TransactionalMessageFactory

    link = "http://127.0.0.1:8000/confirm/7:secret-signature"
    TransactionalMessageFactory(context={"confirm_url": link})
    device = TOTPDeviceFactory()
    key = ApiKey.objects.first()
    marketers = role_client("Marketers")
    asked = [
        (
            marketers,
            "admin:delivery_transactionalmessage_changelist",
            f"context__confirm_url__startswith={link[:40]}",
        ),
        (marketers, "admin:delivery_transactionalmessage_changelist", "context__confirm_url__gt=http"),
        (admin_client, "admin:otp_totp_totpdevice_changelist", f"key__startswith={device.key[:4]}"),
        (admin_client, "admin:otp_totp_totpdevice_changelist", f"id={device.pk}&key__gt=0"),
        (admin_client, "admin:core_apikey_changelist", f"hashed_key__startswith={key.hashed_key[:8]}"),
    ]

    for client, list_name, query in asked:
        response = client.get(f"{reverse(list_name)}?{query}")
        assert (response.status_code, response["Location"]) == (302, reverse(list_name)), query
        assert "a field this page keeps hidden" in client.get(response["Location"]).content.decode()
    # A filter the page offers still applies.
    assert (
        admin_client.get(f"{reverse('admin:otp_totp_totpdevice_changelist')}?id={device.pk}").status_code
        == 200
    )


def test_a_list_filtered_through_rows_one_may_not_see_is_refused():
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from tests.factories import ContactListFactory, ListMembershipFactory
    from tests.utils import staff_login

    ada = ContactFactory()
    ListMembershipFactory(contact=ada, contact_list=ContactListFactory(name="Debt advice"))
    user = User.objects.create_user(username="narrow", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_contact", "view_contactlist"]))
    narrow = staff_login(Client(), user)
    lists = reverse("admin:campaigns_contactlist_changelist")

    for query in (f"contacts={ada.pk}", f"contacts__id__exact={ada.pk}", f"memberships={ada.pk}"):
        response = narrow.get(f"{lists}?{query}")
        assert (response.status_code, response["Location"]) == (302, lists), query
    user.user_permissions.add(Permission.objects.get(codename="view_listmembership"))
    shown = narrow.get(f"{lists}?contacts={ada.pk}")

    assert shown.status_code == 200
    assert "Debt advice" in shown.content.decode()
