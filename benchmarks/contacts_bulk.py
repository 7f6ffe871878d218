"""Benchmark: bulk contact upsert (POST /api/v1/contacts/bulk) next to a plain COPY of the same rows.

Run by hand (needs PostgreSQL):

    .venv/bin/python benchmarks/contacts_bulk.py [--rows 10000] [--rounds 3]

Each round empties the contacts table, COPYs N rows into it (same table, same indexes), empties it
again, then posts N rows to the API three times: creating them, then the same rows again (every
contact unchanged, so nothing is written), then with every name changed (every contact updated),
then with every contact unsubscribing (every status changes: locked, written and audited).
The API numbers include JSON parsing, per-row validation and the response. Prints rows/s and the
ratio of each API run to COPY.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import database_reset, django_setup


def rows(n: int, name: str = "First", **fields) -> list[dict]:
    return [
        {
            "email": f"person{i}@example.com",
            "first_name": f"{name}{i}",
            "last_name": f"Last{i}",
            "external_id": f"crm-{i}",
            "attributes": {"plan": "pro" if i % 3 else "free", "score": i % 100},
            **fields,
        }
        for i in range(n)
    ]


def copy_seconds(data: list[dict]) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_contact CASCADE")
        started = time.perf_counter()
        columns = (
            "email, first_name, last_name, external_id, attributes, timezone, status, created_at, updated_at"
        )
        with cursor.cursor.copy(f"COPY campaigns_contact ({columns}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(
                    (
                        row["email"],
                        row["first_name"],
                        row["last_name"],
                        row["external_id"],
                        json.dumps(row["attributes"]),
                        "",
                        "subscribed",
                        "now",
                        "now",
                    )
                )
        elapsed = time.perf_counter() - started
        cursor.execute("TRUNCATE campaigns_contact CASCADE")
    return elapsed


def api_seconds(client, body: bytes, key: str, expect: str) -> float:
    started = time.perf_counter()
    response = client.post(
        "/api/v1/contacts/bulk",
        body,
        content_type="application/json",
        HTTP_X_API_KEY=key,
        HTTP_HOST="127.0.0.1",
    )
    elapsed = time.perf_counter() - started
    result = response.json()
    if response.status_code != 200 or not result[expect] or result["failed"]:
        raise SystemExit(f"unexpected answer: {result}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    database_reset()
    django_setup()
    from django.test import Client

    from core.services import api_key_create

    _key, secret = api_key_create(
        name="benchmark", rate_limit="1000000/second", scopes=["audience:write", "read"]
    )
    client = Client()
    data = rows(args.rows)
    body = json.dumps({"contacts": data}).encode()
    changed = json.dumps({"contacts": rows(args.rows, name="Changed")}).encode()
    unsubscribed = json.dumps({"contacts": rows(args.rows, name="Changed", status="unsubscribed")}).encode()
    timings = {"copy": [], "create": [], "same": [], "changed": [], "unsub": []}
    for _ in range(args.rounds):
        timings["copy"].append(copy_seconds(data))
        timings["create"].append(api_seconds(client, body, secret, "created"))
        timings["same"].append(api_seconds(client, body, secret, "unchanged"))
        timings["changed"].append(api_seconds(client, changed, secret, "updated"))
        timings["unsub"].append(api_seconds(client, unsubscribed, secret, "updated"))
    copy = statistics.median(timings["copy"])
    print(f"{args.rows} rows, median of {args.rounds} rounds")
    for label, values in timings.items():
        seconds = statistics.median(values)
        print(
            f"  {label:7} {seconds:7.3f} s  {args.rows / seconds:10.0f} rows/s  {seconds / copy:5.1f}x COPY"
        )


if __name__ == "__main__":
    main()
