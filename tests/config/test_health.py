import pytest
from django.db import OperationalError
from django.urls import reverse

from config import health
from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_database_and_broker_answer(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "down": [], "checks": {"database": "ok", "broker": "ok"}}


def test_healthz_names_the_broker_when_it_is_down(client, monkeypatch):
    # Nothing listens on port 1: a real refused connection, not a mock.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["broker"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("down: ")
    assert "127.0.0.1" not in response.content.decode()  # The page is public: no hosts or ports.


def test_healthz_names_the_database_when_it_is_down_and_logs_the_drivers_words_only(
    client, monkeypatch, caplog
):
    def refuse():
        raise OperationalError('connection to server at "db.internal", port 5432 failed: user "campanile"')

    monkeypatch.setitem(health.CHECKS, "database", refuse)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["down"] == ["database"]
    assert response.json()["checks"]["database"] == "down: OperationalError"
    assert "db.internal" in caplog.text


def test_healthz_answers_a_load_balancers_head(client):
    assert client.head(reverse("healthz")).status_code == 200


def test_healthz_is_never_cached(client):
    assert "no-cache" in client.get(reverse("healthz"))["Cache-Control"]
