"""Database helpers shared by the apps."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


@contextmanager
def server_bound_cursor() -> Iterator[psycopg.Cursor]:
    """Yield a psycopg cursor on Django's PostgreSQL connection that binds parameters server-side.

    Django's own cursors bind client-side: they can't use prepared statements, and they quote a
    10,000-element array parameter value by value in Python. Django's query logging and execute
    wrappers don't see this cursor; its error translation (IntegrityError and friends) applies.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor
