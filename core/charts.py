"""Charts drawn on the server as inline SVG: the report works offline, with no script or CDN."""

from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, MARGIN = 720, 150, 28


def svg_time_bars(
    points: list[tuple[datetime, float]], *, title: str, colour: str = "#417690", minutes: bool = False
) -> SafeString:
    """Draw one bar per hour (or minute), with the peak and the first and last moments labelled."""
    if not points:
        return format_html('<p class="campanile-chart-empty">{}: nothing yet.</p>', title)
    highest = max(value for _hour, value in points)
    peak = highest or 1  # An all-zero chart draws flat bars, labelled 0.
    stamp = "%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d %H:00"
    short = "%H:%M" if minutes else "%d %b %H:00"
    slot = (WIDTH - MARGIN) / len(points)
    plot = HEIGHT - 2 * MARGIN
    bars = "".join(
        f'<rect x="{MARGIN + i * slot:.1f}" y="{HEIGHT - MARGIN - value / peak * plot:.1f}" '
        f'width="{max(slot - 1, 1):.1f}" height="{value / peak * plot:.1f}" fill="{colour}">'
        f"<title>{hour:{stamp}} UTC: {value:g}</title></rect>"
        for i, (hour, value) in enumerate(points)
    )
    first, last = points[0][0], points[-1][0]
    labels = (
        f'<text x="{MARGIN}" y="{HEIGHT - 8}" font-size="11">{first:{short}}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 8}" font-size="11" text-anchor="end">{last:{short}}</text>'
        f'<text x="{MARGIN - 4}" y="{MARGIN}" font-size="11" text-anchor="end">{highest:g}</text>'
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH}" y2="{HEIGHT - MARGIN}" stroke="#999"/>'
    )
    # Only numbers and dates are interpolated above; the title is escaped here.
    return format_html(
        '<figure class="campanile-chart"><figcaption>{}</figcaption>'
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">'
        "{}</svg></figure>",
        title,
        WIDTH,
        HEIGHT,
        title,
        mark_safe(bars + labels),  # noqa: S308 - numbers and dates only
    )
