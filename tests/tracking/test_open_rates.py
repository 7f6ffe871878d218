"""Open rates are over the emails that carried the open pixel: a campaign mixing HTML and text-only
steps leaves the text-only emails out of them, in every place a marketer reads one."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import CampaignStepFactory, TrackingEventFactory, step_emails_seen
from tracking import engagement
from tracking.report import campaign_domains, campaign_report
from tracking.report_charts import domains_chart, funnel_chart
from tracking.selectors import campaign_stats, campaigns_figures

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed():
    """Step 1 in HTML: 10 delivered, 4 opened, one of whom clicked. Step 2 text-only: 10
    delivered, 2 clicked (so known opened), the rest unknowable."""
    html = CampaignStepFactory(order=1)
    text = CampaignStepFactory(campaign=html.campaign, order=2, template__html_body="")
    first, *_rest = step_emails_seen(html, 10, opened=4)
    TrackingEventFactory(step_execution=first, type="click", recipient=first.email, occurred_at=first.sent_at)
    step_emails_seen(text, 10, clicked=2)
    engagement.engagement_rebuild()
    return html.campaign


def test_a_mixed_campaigns_open_rates_count_the_emails_with_the_pixel_alone(mixed):
    rates = campaign_stats(campaign=mixed)["rates"]

    assert rates["open"] == 4 / 10  # Not 6 / 20: the text-only emails show no opens.
    assert rates["click_to_open"] == 1 / 4  # Not 3 / 6: a text-only click is no open seen.
    assert rates["click"] == 3 / 20  # Clicks are seen in every email.
    assert campaigns_figures(campaign_ids=[mixed.pk])[mixed.pk]["rates"] == rates


def test_the_api_gives_the_same_open_rate(mixed, api_client):
    response = api_client.get(f"/api/v1/campaigns/{mixed.pk}/stats")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["rates"]["open"], body["rates"]["click_to_open"]) == (0.4, 0.25)
    # What they are over, so an integrator gets the same rate from the counts.
    over = body["opened_over"]
    assert (over["delivered"], over["opens_unique"], over["clicks_unique"], over["sent"]) == (10, 4, 1, 10)
    assert (body["delivered"], body["opens_unique"]) == (20, 6)


def test_the_report_says_which_steps_show_no_opens_and_counts_the_others(admin_client, mixed):
    report = campaign_report(campaign=mixed, now=timezone.now())
    page = admin_client.get(reverse("admin:campaigns_campaign_report", args=[mixed.pk])).content.decode()

    assert report["steps_without_pixel"] == [2]
    assert report["opened_over"]["opens_unique"] == 4
    assert [step["shows_pixel"] for step in report["steps"]] == [True, False]
    assert "Step 2 sends text-only emails, which show no opens" in page
    assert "(10 delivered)" in page
    assert "delivered with the open pixel" in page
    assert "<b>4</b>40.0%" in page.replace("\n", "")


def test_a_domains_open_rate_counts_the_emails_with_the_pixel_alone(mixed):
    (gmail,) = campaign_domains(campaign=mixed)

    assert (gmail["delivered"], gmail["pixel_delivered"], gmail["pixel_opened"]) == (20, 10, 4)
    assert dict(domains_chart([gmail]).extra)["Open rate"] == ["40.0%"]


def test_a_campaign_all_html_or_all_text_has_no_note_and_its_plain_rate():
    html = CampaignStepFactory()
    step_emails_seen(html, 4, opened=1)
    text = CampaignStepFactory(template__html_body="")
    step_emails_seen(text, 4, clicked=1)
    engagement.engagement_rebuild()

    assert campaign_report(campaign=html.campaign, now=timezone.now())["steps_without_pixel"] == []
    assert campaign_stats(campaign=html.campaign)["rates"]["open"] == 1 / 4
    assert campaign_report(campaign=text.campaign, now=timezone.now())["steps_without_pixel"] == []
    assert campaign_stats(campaign=text.campaign)["rates"]["open"] is None


def test_the_funnel_and_the_domains_count_opened_as_the_headline_does(mixed):
    report = campaign_report(campaign=mixed, now=timezone.now())
    stages = {row[0]: row[1] for row in funnel_chart(report).rows()}
    (gmail,) = campaign_domains(campaign=mixed)
    chart = domains_chart([gmail])

    assert stages["Opened"] == report["opened_over"]["opens_unique"] == 4
    assert {series.label: series.values for series in chart.series}["Opened"] == [4]


@pytest.mark.parametrize(("sent_as", "edited_to"), [("<p>Hi</p>", ""), ("", "<p>Hi</p>")])
def test_a_sent_templates_form_cannot_change_so_its_open_rates_keep_describing_what_went_out(
    api_client, sent_as, edited_to
):
    step = CampaignStepFactory(
        campaign__name="Spring sale", campaign__status="completed", template__html_body=sent_as
    )
    template = step.template
    template.text_body = "Hi"
    template.save()

    refused = api_client.patch(f"/api/v1/templates/{template.pk}", {"html_body": edited_to})
    reworded = api_client.patch(
        f"/api/v1/templates/{template.pk}", {"html_body": sent_as or "", "subject": "New"}
    )

    assert refused.status_code == 400, refused.content
    assert "Spring sale" in refused.json()["error"]["fields"]["html_body"][0]
    assert "Save as new" in refused.json()["error"]["fields"]["html_body"][0]
    assert reworded.status_code == 200  # Its words may change; its form may not.
    template.refresh_from_db()
    assert (template.html_body, template.subject) == (sent_as, "New")


def test_a_draft_campaigns_template_may_change_its_form(api_client):
    step = CampaignStepFactory(campaign__status="draft")

    response = api_client.patch(f"/api/v1/templates/{step.template.pk}", {"html_body": "", "text_body": "Hi"})

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "blank",
    [
        "{# text only, really #}",
        "{% if 0 %}<p>Hi</p>{% endif %}",
        "<!DOCTYPE html>",  # Nothing after its prologue: no pixel could go in.
        "<!DOCTYPE html><!-- soon -->",
        # <style> in <svg> is no raw text to a browser: the <p> breaks out into HTML.
        '<p>Hi</p><svg width="0" height="0"><style><p><plaintext></style></svg><p>Bye</p>',
        "<frameset><frame src=x></frameset>",  # A frameset's document drops what follows it.
        "<!DOCTYPE html><frameset><frame src=x></frameset>",
        # Obsolete, shown as raw text: no email carries it unchanged (and nothing closes a plaintext).
        "<p>Hi</p><plaintext>Reply: 1 < 2",
        "<p>Hi</p><template><plaintext>Sent by Acme</template>",
        "<p>Hi</p><xmp>a < b</xmp>",
        # A loop that cannot unpack its letters renders nothing; what is left is judged as it shows.
        '<p>Hi</p>{% for a, b in "xy" %}<p>{{ a }}</p>{% endfor %}<xmp>a < b</xmp>',
        # Django reads a {# #} over lines as text, not a comment: judged as it prints.
        '<p>{% for a, b in "xy" %}{{ a }}{% endfor %}</p>{#\n<svg><style><p><plaintext>\n#}',
        # An image of the author's with an address like the check's own stands in for nothing.
        '<p>Hi</p><img src="about:campanile-pixel-check" alt=""><svg><style><p><plaintext>',
        # A reader running scripts ends this <noscript> early: the rest would be its text.
        "<p>Hi<noscript><!--</noscript><textarea>--></noscript> see</p>",
        '<template shadowrootmode="open"><p>Hi</p></template><p>light</p>',
        '<meta http-equiv="Content-Security-Policy" content="img-src \'none\'"><p>Hi</p>',
    ],
)
def test_an_html_body_that_can_carry_no_pixel_is_refused_so_no_pixel_less_email_counts_as_html(
    api_client, blank
):
    created = api_client.post(
        "/api/v1/templates", {"name": "hidden", "subject": "Hi", "html_body": blank, "text_body": "Hello"}
    )

    assert created.status_code == 400, created.content
    said = created.json()["error"]["fields"]["html_body"][0]
    reasons = ("shows nothing", "cannot be read whole", "would not load", "are obsolete", "Security-Policy")
    assert any(why in said for why in reasons), said


def test_a_sent_template_cannot_go_text_only_through_an_html_body_that_shows_nothing(api_client):
    step = CampaignStepFactory(campaign__name="Spring sale", campaign__status="completed")

    refused = api_client.patch(
        f"/api/v1/templates/{step.template.pk}", {"html_body": "{# text only now #}", "text_body": "Hi"}
    )

    assert refused.status_code == 400, refused.content
    step.template.refresh_from_db()
    assert step.template.has_html


def test_a_stored_html_body_of_blanks_counts_as_text_only_everywhere():
    from campaigns.models import Template

    html = CampaignStepFactory(order=1)
    text = CampaignStepFactory(campaign=html.campaign, order=2)
    Template.objects.filter(pk=text.template.pk).update(html_body=" \n\t ")  # Stored before the rule.
    step_emails_seen(html, 10, opened=4)
    step_emails_seen(text, 10, clicked=2)
    engagement.engagement_rebuild()

    report = campaign_report(campaign=html.campaign, now=timezone.now())

    assert report["steps_without_pixel"] == [2]
    assert report["rates"]["open"] == 4 / 10


def test_an_html_body_of_blanks_is_saved_as_none(api_client):
    from campaigns.models import Template

    created = api_client.post(
        "/api/v1/templates", {"name": "plain", "subject": "Hi", "html_body": "  \n ", "text_body": "Hello"}
    )

    assert created.status_code == 201, created.content
    assert Template.objects.get(name="plain").html_body == ""  # Text only, and counted so.


@pytest.mark.parametrize(
    "html",
    [
        '<svg width="10" height="10"><style>.a { fill: red }</style><rect class="a"/></svg><p>Hi</p>',
        "<!--[if mso]><table><tr><td><![endif]--><p>Hi</p><!--[if mso]></td></tr></table><![endif]-->",
        "<!DOCTYPE html><html><head><style>p { color: red }</style></head><body><p>Hi</p></body></html>",
        "<table><tr><td><p>Hi</p></td></tr></table><textarea>a note</textarea><pre>  code</pre>",
        "<p>Hi {{ contact.first_name }}</p><noscript><p>No script</p></noscript>",
        '<p>Hi</p>{% for a, b in "xy" %}<p>{{ a }}</p>{% endfor %}',  # The loop gives nothing.
        # Read as a browser reads them and written back as read, the pixel goes where it loads: the
        # <p> in an <svg>'s <style> breaks out into HTML, and what it opens is closed before it.
        "<p>Hi</p><svg><style><p><textarea></style></svg>",
        "<p>Hi</p><math><script><br><title></script></math>",
        "<p>Hi</p><svg><style><p><!--</style></svg>",
        "<p>Hi</p>" + "<div>" * 2100 + "deep",  # Past libxml2's nesting limit, within a browser's.
    ],
)
def test_html_whose_pixel_loads_is_saved_as_written(api_client, html):
    created = api_client.post("/api/v1/templates", {"name": "fine", "subject": "Hi", "html_body": html})

    assert created.status_code == 201, created.content


def test_html_whose_pixel_check_would_take_long_is_refused_as_too_costly_not_left_to_run(api_client):
    # Short, but it renders 100,000 nested <div>s, which an HTML5 parser reads in time growing with
    # their square (each looks for a <p> to close among all those open): the check runs in the
    # render's child, under its CPU limit.
    loops = '{% for a in "xxxxxxxxxx" %}{% for b in "xxxxxxxxxx" %}{% for c in "xxxxxxxxxx" %}'
    html = "<p>Pick one:</p>" + loops + "<div>" * 100 + "{% endfor %}" * 3

    created = api_client.post("/api/v1/templates", {"name": "slow", "subject": "Hi", "html_body": html})

    assert created.status_code == 400, created.content
    assert "too costly to send" in created.json()["error"]["fields"]["html_body"][0]


def test_a_template_of_unclosed_openers_or_a_split_tag_saves_in_bounded_time_and_never_a_500(admin_client):
    from django.urls import reverse

    from campaigns.models import Template

    # Should a trial render fail, the HTML is judged as written, its tags left out: a comment left
    # out would join a new tag; unclosed openers were once read in time growing with their square.
    shown = '<p>{% for a, b in "xy" %}{{ a }}{% endfor %}</p>'
    rejoined = shown + "{{# c #}% bogus %}"
    many_openers = shown + "{%\n" * 20_000
    for name, html in (("rejoined", rejoined), ("openers", many_openers)):
        form = {"name": name, "subject": "Hi", "html_body": html, "text_body": ""}
        response = admin_client.post(reverse("admin:campaigns_template_add"), form)
        assert response.status_code == 302, (name, response.status_code)
    assert Template.objects.filter(name__in=["rejoined", "openers"]).count() == 2
