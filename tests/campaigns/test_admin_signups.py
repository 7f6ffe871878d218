"""The signup form pages: a marketer makes a form, gets its page and its snippet, and sees who signed up."""

import pytest
from django.urls import reverse

from campaigns.models import SignupForm
from tests.factories import ContactListFactory, SignupFormFactory, TemplateFactory
from tests.utils import role_client

pytestmark = pytest.mark.django_db


def _form_data(**fields) -> dict:
    return {
        "name": "Newsletter",
        "slug": "newsletter",
        "is_active": "on",
        "language": "en",
        "title": "Join our newsletter",
        "consent_text": "Yes, send me the newsletter.",
        "button_text": "Subscribe",
        "ask_first_name": "optional",
        "ask_last_name": "no",
        "opt_in": "double",
        "from_email": "News <news@campanile.test>",
        "thank_you_text": "",
        "thank_you_url": "",
        "confirmed_text": "",
        "confirmed_url": "",
    } | fields


def test_a_marketer_makes_a_double_opt_in_form_and_gets_its_page_and_snippet():
    client = role_client("Marketers")
    news = ContactListFactory(name="News")
    confirm = TemplateFactory(html_body='<a href="{{ confirm_url }}">Confirm</a>')
    silent = TemplateFactory(html_body="<p>Nothing to click</p>")
    add = reverse("admin:campaigns_signupform_add")

    refused = client.post(add, _form_data(lists=[news.pk], confirmation_template=silent.pk))
    saved = client.post(add, _form_data(lists=[news.pk], confirmation_template=confirm.pk))

    assert "its readers could not confirm" in refused.content.decode()
    assert saved.status_code == 302, saved.content.decode()[:3000]
    form = SignupForm.objects.get()
    page = client.get(reverse("admin:campaigns_signupform_change", args=[form.pk])).content.decode()
    assert "/f/newsletter" in page
    assert "HTML to embed" in page
    assert "&lt;form method=&quot;post&quot; action=&quot;http" in page  # The snippet, as text to copy.
    assert "Signup forms" in client.get(reverse("admin:index")).content.decode()


def test_the_forms_list_counts_signups_and_the_signups_are_shown_to_those_who_see_contacts(ses):
    from campaigns.signups import SignupFields
    from tracking.signups import signup_process, signup_submit

    form = SignupFormFactory(name="Shop footer")
    signup = signup_submit(form=form, fields=SignupFields(email="ada@example.com"), client_ip="")
    signup_process(signup_id=signup.pk)  # What a worker does next.
    client = role_client("Marketers")

    forms_page = client.get(reverse("admin:campaigns_signupform_changelist")).content.decode()
    signups_page = client.get(reverse("admin:campaigns_signup_changelist")).content.decode()

    assert "0 joined, 1 awaiting confirmation" in forms_page
    assert "ada@example.com" in signups_page


def test_a_list_kept_from_contacts_cannot_be_offered_for_visitors_to_choose():
    client = role_client("Marketers")
    hidden = ContactListFactory(name="Scored leads Q3", shown_to_contacts=False)
    confirm = TemplateFactory(html_body='<a href="{{ confirm_url }}">Confirm</a>')

    refused = client.post(
        reverse("admin:campaigns_signupform_add"),
        _form_data(lists=[hidden.pk], confirmation_template=confirm.pk, visitor_chooses_lists="on"),
    )

    assert "Kept from contacts, so not offered to visitors: Scored leads Q3." in refused.content.decode()
    assert not SignupForm.objects.exists()


@pytest.mark.parametrize("field", ["title", "button_text"])
def test_a_form_whose_heading_or_button_holds_a_bidi_override_is_refused_naming_it(field):
    client = role_client("Marketers")
    news = ContactListFactory(name="News")
    confirm = TemplateFactory(html_body='<a href="{{ confirm_url }}">Confirm</a>')

    answer = client.post(
        reverse("admin:campaigns_signupform_add"),
        _form_data(lists=[news.pk], confirmation_template=confirm.pk, **{field: "Join \u202eus"}),
    )

    assert answer.status_code == 200
    assert "Remove U+202E RIGHT-TO-LEFT OVERRIDE" in answer.content.decode()
    assert not SignupForm.objects.exists()
