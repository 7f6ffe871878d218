"""The report page and the stats API list the most clicked links, at most REPORT_LINKS_SHOWN, and sum
the rest: a link per recipient must not make them as long as the audience. links.csv lists them all."""

import csv
import hashlib
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from delivery import compose as delivery_compose
from delivery.models import TrackedLink
from tests.factories import CampaignStepFactory
from tracking.models import LinkEngagement
from tracking.report import campaign_report
from tracking.selectors import REPORT_LINKS_SHOWN

pytestmark = pytest.mark.django_db

#: Links past those shown: n = 0 … 4 are the least clicked.
MORE = 5


def _personal_link(n: int) -> str:
    return f"https://shop.example/account?id=cust-{n:06d}"


@pytest.fixture
def step():
    """A step with a link per recipient: link n clicked by n people, 2n times, once by a machine (n > 0);
    and the hidden trap, clicked by scanners more than any, which no list counts."""
    step = CampaignStepFactory()
    urls = [_personal_link(n) for n in range(REPORT_LINKS_SHOWN + MORE)]
    links = TrackedLink.objects.bulk_create(
        TrackedLink(step=step, url=url, url_hash=hashlib.sha256(url.encode()).hexdigest())
        for url in [*urls, delivery_compose.honeypot_url()]
    )
    *people, trap = links
    LinkEngagement.objects.bulk_create(
        [
            *(
                LinkEngagement(link=link, clicks_unique=n, clicks_total=2 * n, machine_clicks_total=1)
                for n, link in enumerate(people)
                if n
            ),
            LinkEngagement(link=trap, clicks_unique=10_000, clicks_total=10_000, machine_clicks_total=10_000),
        ]
    )
    return step


def test_the_report_lists_the_most_clicked_links_first_and_sums_the_rest(step):
    report = campaign_report(campaign=step.campaign)

    assert len(report["links"]) == REPORT_LINKS_SHOWN
    last = REPORT_LINKS_SHOWN + MORE - 1
    assert report["links"][0] == {
        "url": _personal_link(last),
        "step": 1,
        "clicks_unique": last,
        "clicks_total": 2 * last,
        "machine_clicks_total": 1,
        # Of every link's clicks, the links left out included: 2 × (0 + 1 + … + last).
        "share": 2 * last / (last * (last + 1)),
    }
    assert [link["url"] for link in report["links"]][-1] == _personal_link(MORE)
    # The least clicked, 0 … 4: 0 + 1 + 2 + 3 + 4 people, twice as many clicks, 4 by machines.
    assert report["links_more"] == {
        "links": MORE,
        "clicks_unique": 10,
        "clicks_total": 20,
        "machine_clicks_total": MORE - 1,
    }


def test_the_shown_links_are_cut_and_the_rest_summed_in_the_database(step):
    with CaptureQueriesContext(connection) as queries:
        campaign_report(campaign=step.campaign)

    reading_links = [query["sql"] for query in queries if '"delivery_trackedlink"' in query["sql"]]
    assert reading_links
    # Each reads 100 rows or one sum, never every link of the campaign.
    assert all(f"LIMIT {REPORT_LINKS_SHOWN}" in sql or "SUM(" in sql for sql in reading_links)


def test_the_report_page_says_how_many_more_links_there_are_and_their_clicks(step, admin_client):
    page = admin_client.get(reverse("admin:campaigns_campaign_report", args=[step.campaign_id]))

    links = page.content.decode().split('id="chart-links"')[1].split("</figure>")[0]
    assert links.count('<td class="cp-url"') == REPORT_LINKS_SHOWN
    assert "And 5 more links (clicks: 20): download the CSV for all of them." in links


def test_the_stats_api_answers_the_most_clicked_links_and_sums_the_rest(step, api_client):
    stats = api_client.get(f"/api/v1/campaigns/{step.campaign_id}/stats").json()

    assert len(stats["links"]) == REPORT_LINKS_SHOWN
    assert stats["links"][0]["url"] == _personal_link(REPORT_LINKS_SHOWN + MORE - 1)
    assert stats["links_more"] == {
        "links": MORE,
        "clicks_unique": 10,
        "clicks_total": 20,
        "machine_clicks_total": MORE - 1,
    }


def test_the_stats_api_says_nothing_is_left_out_of_a_short_list(api_client):
    step = CampaignStepFactory()
    TrackedLink.objects.create(step=step, url="https://shop.example/", url_hash="a" * 64)

    stats = api_client.get(f"/api/v1/campaigns/{step.campaign_id}/stats").json()

    assert [link["url"] for link in stats["links"]] == ["https://shop.example/"]
    assert stats["links_more"] == {
        "links": 0,
        "clicks_unique": 0,
        "clicks_total": 0,
        "machine_clicks_total": 0,
    }


def test_the_stats_schema_documents_the_links_left_out(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    stats = schema["components"]["schemas"]["CampaignStats"]
    assert "links_more" in stats["required"]
    assert set(schema["components"]["schemas"]["LinksMore"]["properties"]) == {
        "links",
        "clicks_unique",
        "clicks_total",
        "machine_clicks_total",
    }


def test_the_report_with_links_shown_none_holds_every_link_for_links_csv(step):
    from tracking.report_charts import links_chart

    report = campaign_report(campaign=step.campaign, links_shown=None)

    assert len(links_chart(report).labels) == REPORT_LINKS_SHOWN + MORE
    assert report["links_more"]["links"] == 0


def test_links_csv_lists_every_link(step, admin_client):
    url = reverse("admin:campaigns_campaign_chart_csv", args=[step.campaign_id, "links"])

    rows = list(csv.reader(io.StringIO(b"".join(admin_client.get(url).streaming_content).decode())))

    assert len(rows) == 1 + REPORT_LINKS_SHOWN + MORE  # The header, then every link but the trap.
