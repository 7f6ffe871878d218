"""Benchmark: the admin's contact import (a CSV or XLSX file, mapped, run in chunks as a worker runs
it) next to the API's bulk endpoint taking the same rows, 10,000 a request.

Run by hand (needs PostgreSQL):

    .venv/bin/python benchmarks/contact_import.py [--rows 100000] [--rounds 3] [--xlsx]

Each round empties the contacts, posts the rows to POST /api/v1/contacts/bulk in requests of
10,000 (the baseline: JSON parsing, per-row checks, the upsert), empties the contacts again, then
imports the same rows from a CSV file: upload (the file read through and counted), start (the
guessed mapping, a consent basis, one list) and the job's run, every chunk committed with its
progress, consent records and list memberships. With --xlsx the same rows come as a workbook too.
Prints each median and its ratio to the API's.
"""

import argparse
import csv
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import database_reset, django_setup
from benchmarks.contacts_bulk import rows

CHUNK = 10_000


def contacts_empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_contact, campaigns_contactimport CASCADE")


def api_seconds(client, data: list[dict], key: str) -> float:
    bodies = [json.dumps({"contacts": data[at : at + CHUNK]}).encode() for at in range(0, len(data), CHUNK)]
    started = time.perf_counter()
    for body in bodies:
        response = client.post(
            "/api/v1/contacts/bulk", body, content_type="application/json", HTTP_X_API_KEY=key
        )
        if response.status_code != 200 or response.json()["failed"]:
            raise SystemExit(f"unexpected answer: {response.content[:300]}")
    return time.perf_counter() - started


HEADER = ["Email", "First name", "Last name", "Customer id", "plan", "score"]


def table_rows(data: list[dict]):
    """Yield the file's rows: the header, then each contact's cells."""
    yield HEADER
    for row in data:
        attributes = row["attributes"]
        yield [
            row["email"],
            row["first_name"],
            row["last_name"],
            row["external_id"],
            attributes["plan"],
            attributes["score"],
        ]


def csv_bytes(data: list[dict]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(table_rows(data))
    return out.getvalue().encode()


def xlsx_bytes(data: list[dict]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for cells in table_rows(data):
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def import_seconds(data: bytes, name: str, contact_list, expected: int) -> float:
    from campaigns import import_jobs
    from campaigns.models import ContactImport

    started = time.perf_counter()
    job = import_jobs.contact_import_create(file_name=name, data=data, user=None)
    mapping = job.mapping
    import_jobs.contact_import_start(job=job, mapping=mapping, lists=[contact_list], consent_basis="consent")
    import_jobs.contact_import_run(job_id=job.pk)  # What the worker does, here in this process.
    elapsed = time.perf_counter() - started
    job = ContactImport.objects.get(pk=job.pk)
    if job.status != "done" or job.created != expected or job.failed:
        raise SystemExit(f"unexpected import: {job.status} {job.created} created, {job.failed} failed")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--xlsx", action="store_true", help="time an XLSX file of the same rows too")
    args = parser.parse_args()

    database_reset()
    django_setup()
    from django.test import Client

    from campaigns.models import ContactList
    from core.services import api_key_create

    _key, secret = api_key_create(
        name="benchmark", rate_limit="1000000/second", scopes=["audience:write", "read"]
    )
    client = Client(HTTP_HOST="127.0.0.1")
    data = rows(args.rows)
    files = {"csv": ("people.csv", csv_bytes(data))}
    if args.xlsx:
        files["xlsx"] = ("people.xlsx", xlsx_bytes(data))
    timings: dict[str, list[float]] = {"api": [], **{kind: [] for kind in files}}
    for _ in range(args.rounds):
        contacts_empty()
        timings["api"].append(api_seconds(client, data, secret))
        for kind, (name, content) in files.items():
            contacts_empty()
            contact_list = ContactList.objects.get_or_create(name="Imported")[0]
            timings[kind].append(import_seconds(content, name, contact_list, args.rows))
    api = statistics.median(timings["api"])
    print(f"{args.rows} rows, median of {args.rounds} rounds")
    for label, values in timings.items():
        seconds = statistics.median(values)
        print(
            f"  {label:5} {seconds:7.2f} s  {args.rows / seconds:9.0f} rows/s  {seconds / api:5.2f}x the API"
        )


if __name__ == "__main__":
    main()
