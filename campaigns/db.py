"""Database helpers shared by the apps."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection, models


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


def rows_insert_new(objs: list[models.Model], *, key: str, chunk: int = 1000) -> set:
    """INSERT the objects, skipping any whose unique `key` is taken; return the keys inserted.

    bulk_create(ignore_conflicts=True) can't tell which rows were new; counters need to know.
    """
    if not objs:
        return set()
    meta = type(objs[0])._meta
    fields = [field for field in meta.concrete_fields if not isinstance(field, models.AutoField)]
    quote = connection.ops.quote_name
    key_column = quote(meta.get_field(key).column)
    insert = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
    inserted = set()
    with connection.cursor() as cursor:
        for start in range(0, len(objs), chunk):
            part = objs[start : start + chunk]
            values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(part))
            cursor.execute(
                # Names from the model and placeholders only: the values are parameters.
                f"{insert} VALUES {values} ON CONFLICT ({key_column}) DO NOTHING RETURNING {key_column}",
                [
                    field.get_db_prep_save(field.pre_save(obj, True), connection)
                    for obj in part
                    for field in fields
                ],
            )
            inserted.update(row[0] for row in cursor.fetchall())
    return inserted
