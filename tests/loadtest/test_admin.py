"""The load test in the admin: who may start one, and the task that runs it."""

import uuid

from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from delivery.models import StepExecution
from loadtest import tasks
from loadtest.models import LoadTestRun
from tests.utils import staff_login

Status = StepExecution.Status


def test_administrators_may_start_load_tests_and_marketers_may_not(db):
    administrators = Group.objects.get(name="Administrators").permissions.values_list("codename", flat=True)
    marketers = Group.objects.get(name="Marketers").permissions.values_list("codename", flat=True)

    assert {"add_loadtestrun", "view_loadtestrun"} <= set(administrators)
    assert "add_loadtestrun" not in marketers


def test_a_run_started_in_the_admin_is_queued_then_run_by_the_task(
    postgres_only, redis_only, transactional_db, standin_env, client, monkeypatch
):
    # Groups made by migrations don't outlive a transactional test's flush; permissions do.
    ops = User.objects.create_user("ops", is_staff=True, password=uuid.uuid4().hex)
    ops.user_permissions.set(Permission.objects.filter(codename__in=["add_loadtestrun", "view_loadtestrun"]))
    clerk = User.objects.create_user("clerk", is_staff=True, password=uuid.uuid4().hex)
    url = reverse("admin:loadtest_loadtestrun_add")
    form = {"messages": 30, "rate": 60, "via": "api", "ses": "standin"}
    form["to"] = "success@simulator.amazonses.com"
    queued = []
    monkeypatch.setattr(tasks.loadtest_run, "delay", queued.append)

    staff_login(client, clerk)
    assert client.get(url).status_code == 403
    staff_login(client, ops)
    refused = client.post(url, {**form, "to": "boss@example.com"})
    assert refused.status_code == 200
    assert "real mailbox" in refused.content.decode()
    response = client.post(url, form)
    assert response.status_code == 302
    run = LoadTestRun.objects.get()
    assert (run.status, run.started_by, queued) == (LoadTestRun.Status.QUEUED, "ops", [run.pk])

    tasks.loadtest_run(run.pk)  # What the worker it was queued for does.

    run.refresh_from_db()
    assert run.status == LoadTestRun.Status.PASSED, run.report
    page = client.get(reverse("admin:loadtest_loadtestrun_change", args=[run.pk])).content.decode()
    assert "duplicates 0  missing 0" in page
    assert "Passed — counted at SES (the stand-in&#x27;s record" in page
