"""Benchmark: what rendering in the sandbox's child process costs, next to rendering in-process.

Run by hand (needs PostgreSQL, for Django's set-up only):

    .venv/bin/python benchmarks/rendering.py [--emails 3000] [--rounds 3] [--sections 6]

Renders a newsletter-sized template (7 KB of HTML, sixty variables, tags and filters) for
--emails contacts, twice a round: once in this process with the same bounds (the baseline: what
a render cost before the sandbox), once through the sandbox as the senders do, one round trip an
email. Reports wall time per email and CPU per email, this process and its render children
together, and each as a ratio to the baseline.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import django_setup

SECTION = (
    "<tr><td><h2>{{ attributes.headline|default:'News'|title }}</h2>"
    "<p>Hello {{ contact.first_name|default:'friend' }}, {{ attributes.blurb|truncatewords:30 }}</p>"
    "{% if attributes.vip %}<p>As a member since {{ attributes.since }}, you get early access.</p>"
    "{% else %}<p>Join today.</p>{% endif %}"
    "<ul>{% for item in attributes.items %}<li>{{ forloop.counter }}. {{ item|upper }}</li>{% endfor %}</ul>"
    "<a href='https://example.com/story?u={{ contact.external_id|urlencode }}'>Read more</a>"
    "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12 + "</p></td></tr>"
)


def contexts(count: int) -> list[dict]:
    """Return `count` contacts' template data, each a little different."""
    from campaigns.models import Contact
    from campaigns.rendering import template_context

    return [
        {
            **template_context(
                contact=Contact(
                    email=f"reader{n}@example.com",
                    first_name=f"Reader{n}",
                    external_id=f"ext-{n}",
                    attributes={
                        "headline": "spring sale",
                        "blurb": "our biggest sale of the year " * 5,
                        "vip": n % 2 == 0,
                        "since": 2020 + n % 5,
                        "items": ["shoes", "hats", "coats"],
                    },
                )
            ),
            "unsubscribe_url": f"https://example.com/u/{n}",
        }
        for n in range(count)
    ]


def cpu_seconds() -> dict[int | None, float]:
    """Return the CPU time so far of this process (key None) and of each of its render children."""
    import multiprocessing
    import os

    usage = resource.getrusage(resource.RUSAGE_SELF)
    times: dict[int | None, float] = {None: usage.ru_utime + usage.ru_stime}
    for child in multiprocessing.active_children():
        if child.name == "campanile-render" and child.pid is not None:
            with open(f"/proc/{child.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            times[child.pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return times


def cpu_spent(before: dict[int | None, float]) -> float:
    """Return the CPU time spent since `before`, by this process and its render children."""
    return sum(now - before.get(pid, 0.0) for pid, now in cpu_seconds().items())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sections", type=int, default=6, help="newsletter sections; 0: a one-line email")
    args = parser.parse_args()
    django_setup()
    from django.conf import settings

    from campaigns.models import Template
    from campaigns.rendering import _render_job, template_compile, template_render

    html = (
        "<table>" + SECTION * args.sections + "</table><p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
    )
    template = Template(name="Bench", subject="{{ contact.first_name }}, news for you", html_body=html)
    compiled = template_compile(template=template)
    people = contexts(args.emails)
    limits = (settings.TEMPLATE_MAX_OUTPUT_CHARS, settings.TEMPLATE_RENDER_MAX_SECONDS)
    template_render(compiled=compiled, contact=_contact())  # Starts the children before timing.
    sample = _render_job(_job(compiled, people[0], limits))
    print(f"template: {len(html):,} characters of source, {len(sample.html):,} rendered")
    for round_number in range(1, args.rounds + 1):
        figures = {}
        for mode in ("in-process", "sandbox"):
            cpu_before, wall_before = cpu_seconds(), time.perf_counter()
            for context in people:
                if mode == "in-process":
                    _render_job(_job(compiled, context, limits))
                else:
                    _sandbox_render(compiled, context)
            wall = (time.perf_counter() - wall_before) / len(people)
            cpu = cpu_spent(cpu_before) / len(people)
            figures[mode] = (wall, cpu)
        (base_wall, base_cpu), (wall, cpu) = figures["in-process"], figures["sandbox"]
        print(
            f"round {round_number}: in-process {base_wall * 1000:.3f} ms wall, "
            f"{base_cpu * 1000:.3f} ms CPU an email; sandbox {wall * 1000:.3f} ms wall "
            f"({wall / base_wall:.2f}×), {cpu * 1000:.3f} ms CPU ({cpu / base_cpu:.2f}×), "
            f"+{(cpu - base_cpu) * 1000:.3f} ms CPU an email"
        )


def _contact():
    from campaigns.models import Contact

    return Contact(email="ada@example.com", first_name="Ada", attributes={})


def _job(compiled, context: dict, limits: tuple[int, float]):
    from campaigns.rendering import _RenderJob

    return _RenderJob(compiled.name, compiled.sources, context, *limits)


def _sandbox_render(compiled, context: dict) -> None:
    from campaigns.rendering import _render_in_sandbox

    _render_in_sandbox(compiled, [context])


if __name__ == "__main__":
    main()
