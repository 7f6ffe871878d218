"""The shared Redis client carries on through a dropped connection instead of failing the command."""

import threading
import time

from django.conf import settings

from core.redis_client import redis_client
from delivery import throttle


def _drop_every_connection() -> None:
    """What a Redis restart or a network blip does to clients: CLIENT KILL on every connection."""
    admin = redis_client(settings.REDIS_URL)
    admin.client_kill_filter(_type="normal", skipme=False)


def test_commands_and_scripts_survive_every_connection_being_dropped(redis_only):
    client = redis_client(settings.REDIS_URL)
    assert client is redis_client(settings.REDIS_URL)  # One pool per process.
    client.set("campanile-test:drop", "1")
    errors = []

    def book():
        for _ in range(200):
            try:
                throttle.send_slot_book(lane="campaign", rate=100_000)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=book) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(3):  # Three blips, apart: each one drops every connection of every thread.
        _drop_every_connection()
        time.sleep(0.2)
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert client.get("campanile-test:drop") == b"1"
    client.delete("campanile-test:drop")
