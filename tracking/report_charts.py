"""The campaign report's charts, from tracking.report's figures: what each one draws and how its
axes are titled."""

from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from core.charts import COLOURS, Chart, Series
from core.templatetags.campanile import percent, percent_number
from core.timeseries import bucket_label, bucket_name
from tracking.outcomes import RATES


def _share(part: int | None, whole: int) -> str:
    return percent(part / whole if whole and part is not None else None)


def _delivered(counts: dict, base_key: str) -> int | None:
    # Without any Delivery event "delivered" is unknown (outcomes.rates_base): no bar, no share.
    return None if counts.get(base_key) == "sent" else counts["delivered"]


def funnel_chart(report: dict) -> Chart:
    """Sent → delivered → opened → clicked, then the ways out, each as emails and a share of sent."""
    # Opened among the emails that carried the pixel, as the headline and the open rate count it.
    seen = report["opened_over"]["opens_unique"]
    opened = [(_("Opened"), seen, "opened")] if report.get("opens_tracked", True) else []
    stages = [
        (_("Sent"), report["sent"], "sent"),
        (_("Delivered"), _delivered(report, "rates_base"), "delivered"),
        *opened,
        (_("Clicked"), report["clicks_unique"], "clicked"),
        (_("Unsubscribed"), report["unsubscribed"], "unsubscribed"),
        (_("Bounced"), report["bounced"], "bounced"),
        (_("Complained"), report["complained"], "complained"),
    ]
    return Chart(
        key="funnel",
        title=_("From sent to clicked"),
        labels=[label for label, _n, _colour in stages],
        series=[Series(_("Emails"), [n for _label, n, _c in stages], [COLOURS[c] for *_rest, c in stages])],
        x_title=_("Stage"),
        y_title=_("Emails"),
        horizontal=True,
        extra=[(_("Of sent"), [_share(n, report["sent"]) for _label, n, _c in stages])],
    )


#: Charts over time with more buckets than this are lines; fewer are bars, each a bucket's count.
LINE_FROM = 30


def activity_charts(report: dict) -> list[Chart]:
    """Opens and clicks, and sending and delivery, over time since the first send."""
    activity = report["activity"]
    bucket, starts = activity["bucket"], activity["starts"]
    local = [timezone.localtime(moment) for moment in starts]
    one_day = bool(local) and local[0].date() == local[-1].date()
    labels = [bucket_label(moment, bucket, one_day=one_day) for moment in local]
    x_title = _("Time (%(zone)s)") % {"zone": timezone.get_current_timezone_name()}
    per = bucket_name(bucket)
    series = activity["series"]

    def chart(key: str, title: str, names: list[tuple[str, str, str]]) -> Chart:
        return Chart(
            key=key,
            title=title,
            labels=labels,
            series=[Series(label, series[name], COLOURS[colour]) for name, label, colour in names],
            x_title=x_title,
            y_title=_("Count %(per)s") % {"per": per},
            kind="line" if len(starts) > LINE_FROM else "bar",
            csv_labels=[moment.isoformat() for moment in local],
        )

    opens = [("opens", _("Opens"), "opened")] if report.get("opens_tracked", True) else []
    # Without any Delivery event "delivered" is unknown (outcomes.rates_base): sent alone, not a line of 0s.
    delivered = [("delivered", _("Delivered"), "delivered")] if report.get("rates_base") != "sent" else []
    return [
        chart(
            "engagement",
            _("Opens and clicks by people, %(per)s") % {"per": per},
            [*opens, ("clicks", _("Clicks"), "clicked")],
        ),
        chart(
            "sending",
            (_("Sent and delivered, %(per)s") if delivered else _("Sent, %(per)s")) % {"per": per},
            [("sent", _("Sent"), "sent"), *delivered],
        ),
    ]


def domains_chart(rows: list[dict], *, opens_tracked: bool = True) -> Chart:
    """Delivered, bounced and opened per mailbox provider (tracking.report.campaign_domains);
    without the open pixel, delivered and bounced alone."""
    # One bounce rate on the page: the campaign's, hard bounces over sent, under its label.
    bounce = next(rate for rate in RATES if rate.name == "bounce")
    series = [
        Series(_("Delivered"), [_delivered(row, "rate_base") for row in rows], COLOURS["delivered"]),
        Series(_("Bounced"), [row["bounced"] for row in rows], COLOURS["bounced"]),
    ]
    extra = [
        (_("Sent"), [row["sent"] for row in rows]),
        (_("Delivery rate"), [_share(_delivered(row, "rate_base"), row["sent"]) for row in rows]),
        (_("Hard bounces"), [row[bounce.part] for row in rows]),
        (
            _("%(rate)s rate") % {"rate": bounce.label},
            [_share(row[bounce.part], row[bounce.whole]) for row in rows],
        ),
    ]
    if opens_tracked:
        series.append(Series(_("Opened"), [row["pixel_opened"] for row in rows], COLOURS["opened"]))
        # Over the delivered that carried the pixel, or over those sent where SES reported no
        # delivery (tracking.report.campaign_domains): a text-only email shows no open.
        extra.append(
            (
                _("Open rate"),
                [
                    _share(row["pixel_opened"], row["pixel_" + row.get("rate_base", "delivered")])
                    for row in rows
                ],
            )
        )
    return Chart(
        key="domains",
        title=_("By recipient domain"),
        labels=[row["name"] for row in rows],
        series=series,
        x_title=_("Domain"),
        y_title=_("Emails"),
        extra=extra,
    )


def clients_chart(report: dict) -> Chart:
    """Opens and clicks by who made them: people, image proxies, Apple's prefetch, scanners (clicks
    alone for a campaign without the open pixel)."""
    rows, opens_tracked = report["clients"], report.get("opens_tracked", True)
    return Chart(
        key="clients",
        title=_("By client"),
        labels=[row["label"] for row in rows],
        series=[
            *(
                [Series(_("Opens"), [row["opens"] for row in rows], COLOURS["opened"])]
                if opens_tracked
                else []
            ),
            Series(_("Clicks"), [row["clicks"] for row in rows], COLOURS["clicked"]),
        ],
        x_title=_("Client"),
        y_title=_("Events"),
        horizontal=True,
        extra=[(_("In the rates"), [_("yes") if row["counted"] else _("no") for row in rows])],
    )


def comparison_chart(report: dict) -> Chart:
    """This campaign's open, click and unsubscribe rates beside the sender's last campaigns'."""
    rows = report["comparison"]

    def rate(row: dict, name: str) -> float | None:
        value = row["rates"][name]
        # Rounded as `percent` rounds: half up, and a small rate keeps its first figure.
        return float(percent_number(value, 2)[0]) if value is not None else None

    names = [
        Truncator(row["campaign"].name).chars(28) + (_(" (this one)") if row["current"] else "")
        for row in rows
    ]
    return Chart(
        key="comparison",
        title=_("Beside the sender's last campaigns"),
        labels=names,
        # The export carries whole names; the chart's axis cuts them to fit.
        csv_labels=[row["campaign"].name + (_(" (this one)") if row["current"] else "") for row in rows],
        series=[
            Series(_("Open rate %"), [rate(row, "open") for row in rows], COLOURS["opened"]),
            Series(_("Click rate %"), [rate(row, "click") for row in rows], COLOURS["clicked"]),
            Series(
                _("Unsubscribe rate %"), [rate(row, "unsubscribe") for row in rows], COLOURS["unsubscribed"]
            ),
        ],
        x_title=_("Campaign"),
        # Each campaign's rates are over its delivered, or over its sent when SES reported no
        # delivery for it (outcomes.rates_base): the table says which.
        y_title=_("Rate (percent)"),
        percent=True,
        extra=[
            (
                _("Rates over"),
                [
                    _("delivered") if row["rates_base"] == "delivered" else _("sent (no Delivery events)")
                    for row in rows
                ],
            ),
            (_("Sent"), [row["counts"]["sent"] for row in rows]),
            (
                _("Started"),
                [
                    f"{row['campaign'].started_at:%Y-%m-%d}" if row["campaign"].started_at else ""
                    for row in rows
                ],
            ),
        ],
    )


def links_of_several_steps(links: list[dict]) -> bool:
    """Tell whether a campaign's links come from more than one step (a drip's)."""
    return len({link["step"] for link in links}) > 1


def links_chart(report: dict) -> Chart:
    """Each link's clicks by people and share of them (a table first; the bars show the shares)."""
    links = report["links"]
    # A drip's steps track their own links: the step tells one address's rows apart.
    steps = [(_("Step"), [link["step"] for link in links])] if links_of_several_steps(links) else []
    return Chart(
        key="links",
        title=_("Links"),
        labels=[link["url"] for link in links],
        series=[Series(_("Clicks"), [link["clicks_total"] for link in links], COLOURS["clicked"])],
        x_title=_("Link"),
        y_title=_("Clicks"),
        horizontal=True,
        extra=[
            *steps,
            (_("People"), [str(link["clicks_unique"]) for link in links]),
            (_("Share of clicks"), [percent(link["share"]) for link in links]),
            (_("Machine clicks"), [str(link["machine_clicks_total"]) for link in links]),
        ],
    )


def report_charts(report: dict) -> dict[str, Chart]:
    """Return the charts of the report's page by key: what it draws and the CSV downloads serve
    (the domains' chart, loaded after the page, is domains_chart's)."""
    charts = [
        funnel_chart(report),
        *activity_charts(report),
        links_chart(report),
        clients_chart(report),
        comparison_chart(report),
    ]
    return {chart.key: chart for chart in charts}
