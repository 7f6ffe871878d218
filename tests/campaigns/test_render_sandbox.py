"""Renders run in child processes the kernel bounds in CPU time and memory, whatever a filter does."""

import logging
import os
import threading
import time

import pytest
from django.core.exceptions import ValidationError

from campaigns.exceptions import TemplateLimitExceeded
from campaigns.render_sandbox import RenderSandbox, Stopped, render_sandbox
from campaigns.rendering import template_compile, template_render, template_validate
from tests.factories import ContactFactory, TemplateFactory

MEGABYTE = 2**20


def _spin_in_c(job: int) -> int:
    """Add integers in one C call: no Python code runs, so no clock in the render can stop it."""
    return sum(range(10**12))


def _echo(job: int) -> tuple[int, int]:
    return job, os.getpid()


def _hold(megabytes: int) -> int:
    return len(bytearray(megabytes * MEGABYTE))


@pytest.fixture
def sandbox():
    return RenderSandbox(processes=1, memory_bytes=64 * MEGABYTE)


def _spin_or_echo(job: int) -> object:
    return _spin_in_c(job) if job == 0 else _echo(job)


def test_a_job_spinning_in_c_code_is_ended_by_the_kernel_and_the_next_job_still_runs(sandbox, caplog):
    with caplog.at_level(logging.WARNING, logger="campaigns.render_sandbox"):
        (_, first_pid), stopped, (after, successor_pid) = sandbox.run(
            _spin_or_echo, [1, 0, 2], cpu_seconds=0.1
        )
    assert stopped == Stopped("it takes more than 0.1 s to render")
    assert "A render child was ended and replaced: it takes more than 0.1 s to render." in caplog.text
    assert after == 2
    assert successor_pid not in (first_pid, os.getpid())


def test_a_job_past_the_memory_cap_fails_with_the_reason_and_its_child_carries_on(sandbox):
    (_, first_pid), stopped, kept, (_, pid_after) = sandbox.run(
        _run_each, [("echo", 0), ("hold", 200), ("hold", 8), ("echo", 0)], cpu_seconds=5
    )
    assert stopped == Stopped("it needs more than 64 MB of memory to render")
    assert kept == 8 * MEGABYTE
    assert pid_after == first_pid


def _run_each(job: tuple[str, int]) -> object:
    name, argument = job
    if name == "sleep":  # Waiting takes no CPU: only the parent's clock can end it.
        time.sleep(argument)
    return _hold(argument) if name == "hold" else _echo(argument)


def test_a_job_that_goes_silent_without_spending_cpu_is_ended_by_the_parents_clock():
    patient = RenderSandbox(processes=1, memory_bytes=64 * MEGABYTE, wall_seconds=1)
    stopped, (after, _) = patient.run(_run_each, [("sleep", 60), ("echo", 3)], cpu_seconds=0.1)
    assert stopped == Stopped("it did not finish rendering within 1 s")
    assert after == 3


def test_threads_sharing_the_children_each_get_their_own_answers():
    shared = RenderSandbox(processes=2, memory_bytes=64 * MEGABYTE)
    answers: dict[int, list] = {}

    def ask(thread: int) -> None:
        answers[thread] = [shared.run(_echo, [thread * 100 + n], cpu_seconds=5)[0][0] for n in range(20)]

    threads = [threading.Thread(target=ask, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {thread: [thread * 100 + n for n in range(20)] for thread in range(4)}


@pytest.mark.django_db
def test_a_render_past_the_memory_cap_fails_that_email_and_leaves_the_sender_whole(settings):
    # With the output limit raised out of the way, only the kernel's cap stands between this
    # filter and 400 MB of the sending process's memory.
    settings.TEMPLATE_MAX_OUTPUT_CHARS = 10**9
    template = TemplateFactory(html_body="<p>{{ 'x'|ljust:400000000 }}</p>")
    with pytest.raises(TemplateLimitExceeded) as stopped:
        template_render(compiled=template_compile(template=template), contact=ContactFactory())
    assert f"more than {settings.TEMPLATE_RENDER_MAX_MEMORY_MB} MB of memory" in str(stopped.value)
    small = TemplateFactory(html_body="<p>{{ contact.first_name }}</p>")
    ada = ContactFactory(first_name="Ada")
    rendered = template_render(compiled=template_compile(template=small), contact=ada)
    assert rendered.html == "<p>Ada</p>"


@pytest.mark.django_db
def test_a_template_past_the_memory_cap_is_refused_when_saved(settings):
    settings.TEMPLATE_MAX_OUTPUT_CHARS = 10**9
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body="{{ 'x'|ljust:400000000 }}"))
    assert "MB of memory" in str(refused.value.message_dict["html_body"])


def test_renders_do_not_run_in_the_process_that_asks_for_them():
    ((_, pid),) = render_sandbox().run(_echo, [1], cpu_seconds=1)
    assert pid != os.getpid()


@pytest.mark.django_db
def test_a_contact_whose_data_is_too_deep_to_hand_over_fails_alone_with_the_reason(api_client):
    deep: dict = {"leaf": 1}
    for _ in range(600):  # Stored before the attribute rule, or past it: deeper than pickle goes.
        deep = {"a": deep}
    contact = ContactFactory(attributes=deep)
    template = TemplateFactory(html_body="<p>{{ contact.first_name }}</p>")
    with pytest.raises(TemplateLimitExceeded, match="cannot be handed to the renderer"):
        template_render(compiled=template_compile(template=template), contact=contact)
    preview = api_client.post(
        f"/api/v1/templates/{template.pk}/preview", {"contact_id": contact.pk}, format="json"
    )
    assert preview.status_code == 409
    other = template_render(
        compiled=template_compile(template=template), contact=ContactFactory(first_name="Bo")
    )
    assert other.html == "<p>Bo</p>"


def test_a_job_too_large_for_the_childs_memory_to_take_in_fails_with_the_reason(sandbox):
    stopped, (after, _pid) = sandbox.run(_echo, [b"x" * 256 * MEGABYTE, 2], cpu_seconds=5)

    assert isinstance(stopped, Stopped)
    assert "64 MB of memory" in stopped.reason
    assert after == 2
