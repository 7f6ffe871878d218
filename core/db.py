"""Database helpers shared by the apps."""

import functools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, NamedTuple, cast
from urllib.parse import quote

import psycopg
from django.db import connection, models, transaction


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


@contextmanager
def without_jit() -> Iterator[None]:
    """Run the queries inside without PostgreSQL's JIT compiler, in one transaction: a query of
    many small subplans (a segment's rules) spends seconds compiling what runs in milliseconds."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


#: The row locks SELECT … FOR takes, weakest last: KEY SHARE (the lock a foreign key's check takes)
#: lets rows change but not be deleted, and waits for a deleter's UPDATE.
RowLock = Literal["UPDATE", "NO KEY UPDATE", "SHARE", "KEY SHARE"]


def rows_lock(model: type[models.Model], pks: Iterable[int], *, strength: RowLock) -> set[int]:
    """Lock the rows of these primary keys until the transaction ends, in key order (so that two
    lockers never wait on each other), and return the keys found: a row deleted by the transaction
    this one waited for is not. SQLite has one writer at a time and locks nothing: it only reads."""
    keys = sorted(set(pks))
    if not keys:
        return set()
    if not transaction.get_connection().in_atomic_block:
        # Outside a transaction the lock would end with the statement, guarding nothing.
        raise transaction.TransactionManagementError("rows_lock needs a transaction.")
    if connection.vendor != "postgresql":
        return set(model._base_manager.filter(pk__in=keys).values_list("pk", flat=True))
    if strength not in ("UPDATE", "NO KEY UPDATE", "SHARE", "KEY SHARE"):
        raise ValueError(f"No row lock is called {strength!r}.")
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        # Names from the model and a checked strength: the keys are a parameter.
        cursor.execute(f"SELECT {pk} FROM {table} WHERE {pk} = ANY(%s) ORDER BY {pk} FOR {strength}", [keys])
        return {row[0] for row in cursor.fetchall()}


def database_url() -> str:
    """Return a DATABASE_URL naming this process's database, for the child processes it starts."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def rows_insert_new(objs: Sequence[models.Model], *, key: str, chunk: int = 1000) -> set:
    """INSERT the objects, skipping any whose unique `key` is taken; return the keys inserted.

    bulk_create(ignore_conflicts=True) can't tell which rows were new; counters need to know.
    """
    if not objs:
        return set()
    meta = type(objs[0])._meta
    fields = [field for field in meta.concrete_fields if not isinstance(field, models.AutoField)]
    quote = connection.ops.quote_name
    # The key names a concrete unique field: never a relation's reverse side or a generic key.
    key_column = quote(cast(models.Field, meta.get_field(key)).column)
    insert = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
    inserted: set = set()
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


# --- Tallies: counts a database trigger keeps as signed deltas --------------------------------


class TallyTime(NamedTuple):
    """A tally key: the timestamp `column` truncated to its minute (or hour), in UTC.

    Minutes, so a report can draw a campaign's first hour minute by minute; longer buckets sum them.
    """

    column: str
    unit: str = "minute"  # Or "hour", the unit of the first tallies' migrations.


_SQLITE_TRUNCATED = {"minute": "%Y-%m-%d %H:%M:00", "hour": "%Y-%m-%d %H:00:00"}


def _tally_select(vendor: str, keys: dict, *, row: str, n: str, rows: str, join: str, where: str) -> str:
    exprs = []
    for expression in keys.values():
        if isinstance(expression, TallyTime):
            column = expression.column.format(r=row)
            # UTC whatever the session's zone, so every connection truncates alike.
            exprs.append(
                f"date_trunc('{expression.unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                if vendor == "postgresql"
                else f"strftime('{_SQLITE_TRUNCATED[expression.unit]}', {column})"
            )
        else:
            exprs.append(expression.format(r=row))
    return f"SELECT {', '.join(exprs)}, {n} FROM {rows} {join.format(r=row)} WHERE {where.format(r=row)}"


def tally_triggers_create(
    db, *, name: str, source: str, tally: str, keys: dict, where: str, watch: list, join: str = ""
) -> None:
    """Create the triggers that add signed deltas to `tally` for every change to `source`, and
    count the rows already there.

    `keys` maps each tally column to an SQL expression over the changed row `{r}` (and the
    `join`ed tables) or to a TallyTime. Rows outside `where` aren't counted. On SQLite, an update
    touching none of the `watch` columns adds nothing. Names and expressions are ours, never input.
    """
    vendor = db.vendor
    columns = ", ".join([*keys, "n"])
    groups = ", ".join(str(i + 1) for i in range(len(keys)))

    def select(row: str, n: str, rows: str) -> str:
        return _tally_select(vendor, keys, row=row, n=n, rows=rows, join=join, where=where)

    statements = []
    if vendor == "postgresql":

        def delta(*parts: str) -> str:
            # An update that leaves a row's keys alone adds +1 and -1: they cancel here.
            return (
                f"INSERT INTO {tally} ({columns}) SELECT {', '.join(keys)}, sum(n) FROM ("
                + " UNION ALL ".join(parts)
                + f") AS d ({columns}) GROUP BY {groups} HAVING sum(n) <> 0;"
            )

        plus, minus = select("r", "1", "new_rows r"), select("r", "-1", "old_rows r")
        statements.append(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP = 'INSERT' THEN {delta(plus)} "
            f"ELSIF TG_OP = 'DELETE' THEN {delta(minus)} "
            f"ELSE {delta(plus, minus)} END IF; RETURN NULL; END $$"
        )
        for event, tables in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            statements.append(
                f"CREATE TRIGGER {name}_{event.lower()} AFTER {event} ON {source} "
                f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
    else:
        changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in watch)
        for event, parts in (
            ("INSERT", [("NEW", "1")]),
            ("UPDATE", [("OLD", "-1"), ("NEW", "1")]),
            ("DELETE", [("OLD", "-1")]),
        ):
            when = f"WHEN {changed} " if event == "UPDATE" else ""
            inserts = " ".join(
                f"INSERT INTO {tally} ({columns}) {select(row, n, '(SELECT 1)')};" for row, n in parts
            )
            statements.append(
                f"CREATE TRIGGER {name}_{event.lower()} AFTER {event} ON {source} "
                f"FOR EACH ROW {when}BEGIN {inserts} END"
            )
    # Count what is already there, so the tally starts exact.
    statements.append(
        f"INSERT INTO {tally} ({columns}) {select('r', 'count(*)', f'{source} r')} GROUP BY {groups}"
    )
    with db.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def tally_triggers_drop(db, *, name: str, source: str) -> None:
    """Drop what tally_triggers_create made (the tally's rows go with its table)."""
    with db.cursor() as cursor:
        for event in ("insert", "update", "delete"):
            suffix = f" ON {source}" if db.vendor == "postgresql" else ""
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}_{event}{suffix}")
        if db.vendor == "postgresql":
            cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")


def tally_compact(model: type[models.Model]) -> int:
    """Fold a tally's deltas into one row per key, dropping keys that sum to zero; return the
    number of rows removed.

    Only keys with more than one row (or a zero sum) are touched. On PostgreSQL the rows folded
    are exactly those the DELETE removed, so a concurrent compaction or a delta committed
    meanwhile is never counted twice or lost.
    """
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    key_columns = [quote(field.column) for field in meta.concrete_fields if field.name not in ("id", "n")]
    keys = ", ".join(key_columns)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH folded AS (SELECT unnest(array_agg(id)) AS id FROM {table} GROUP BY {keys} "
                f"HAVING count(*) > 1 OR sum(n) = 0), "
                f"gone AS (DELETE FROM {table} WHERE id IN (SELECT id FROM folded) RETURNING {keys}, n), "
                f"kept AS (INSERT INTO {table} ({keys}, n) SELECT {keys}, sum(n) FROM gone GROUP BY {keys} "
                f"HAVING sum(n) <> 0 RETURNING 1) "
                f"SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)"
            )
            return cursor.fetchone()[0]
        # SQLite has one writer at a time: nothing changes between these statements.
        cursor.execute(
            f"CREATE TEMP TABLE tally_fold AS SELECT {keys}, sum(n) AS n, count(*) AS rows FROM {table} "
            f"GROUP BY {keys} HAVING count(*) > 1 OR sum(n) = 0"
        )
        cursor.execute("SELECT coalesce(sum(rows), 0) - count(*) FILTER (WHERE n <> 0) FROM tally_fold")
        removed = cursor.fetchone()[0]
        same = " AND ".join(f"f.{key} IS {table}.{key}" for key in key_columns)  # IS: NULL-safe.
        cursor.execute(f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM tally_fold f WHERE {same})")
        cursor.execute(f"INSERT INTO {table} ({keys}, n) SELECT {keys}, n FROM tally_fold WHERE n <> 0")
        cursor.execute("DROP TABLE tally_fold")
        return removed


def tally_operation(**tally):
    """Return the migration operation that creates a tally's triggers, and drops them backwards."""
    from django.db import migrations

    def create(apps, schema_editor):
        tally_triggers_create(schema_editor.connection, **tally)

    def drop(apps, schema_editor):
        tally_triggers_drop(schema_editor.connection, name=tally["name"], source=tally["source"])

    return migrations.RunPython(create, drop)


def sqlite_triggers_around(*, tables: list[str], operations: list) -> list:
    """Wrap operations that rebuild tables in SQLite with the triggers set aside, then put back.

    SQLite alters a column by copying the table to a new one and renaming it: the triggers on the
    old table go with it, and one elsewhere naming it fails the rename. PostgreSQL alters in place,
    and runs the operations as they are.
    """
    from django.db import migrations

    kept: list[str] = []
    naming = " OR ".join(["tbl_name = %s OR sql LIKE %s"] * len(tables))
    params = [value for table in tables for value in (table, f"%{table}%")]

    def aside(apps, schema_editor):
        if schema_editor.connection.vendor != "sqlite":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND ({naming})",
                params,
            )
            for name, sql in cursor.fetchall():
                kept.append(sql)
                cursor.execute(f'DROP TRIGGER "{name}"')

    def back(apps, schema_editor):
        with schema_editor.connection.cursor() as cursor:
            for sql in kept:
                cursor.execute(sql)
        kept.clear()

    return [
        migrations.RunPython(aside, back),
        *operations,
        migrations.RunPython(back, aside),
    ]


def tally_rekey_operations(*, old: dict, new: dict, schema: list) -> list:
    """Return the migration operations that give a tally new keys: drop its triggers and rows,
    apply `schema` to its table, then count the source's rows again under the new triggers."""
    from django.db import migrations

    def emptied(tally: dict):
        def run(apps, schema_editor):
            tally_triggers_drop(schema_editor.connection, name=tally["name"], source=tally["source"])
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {tally['tally']}")

        return run

    def counted(tally: dict):
        def run(apps, schema_editor):
            tally_triggers_create(schema_editor.connection, **tally)

        return run

    return [
        migrations.RunPython(emptied(old), counted(old)),
        *schema,
        migrations.RunPython(counted(new), emptied(new)),
    ]


def trigram_index_operation(*, name: str, table: str, column: str):
    """Return the migration operation that indexes a text column's trigrams, on PostgreSQL only.

    Over UPPER(column), the expression Django's `icontains` compares, so a search for part of an
    address (`spring1@`) reads the index instead of every row. Built concurrently, so a big table
    stays writable meanwhile (the migration must not be atomic). SQLite has no such index and
    scans, which at its sizes is fine.
    """
    from django.db import migrations

    def create(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            # pg_trgm is a trusted extension: the database's owner may create it.
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
                f"ON {table} USING gin (UPPER({column}) gin_trgm_ops)"
            )

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

    return migrations.RunPython(create, drop, elidable=False)


@functools.cache
def _insert_plan(model, source: str, computed: tuple[tuple[str, str], ...], with_pk: bool):
    """Return the INSERT statement for a model and the fields whose values it takes, built once."""
    meta = model._meta
    expressions = dict(computed)
    columns, values, fields = [], [], []
    for field in meta.local_concrete_fields:
        if field is meta.auto_field and not with_pk:
            continue  # Left to the database.
        columns.append(connection.ops.quote_name(field.column))
        if field.column in expressions:
            values.append(expressions[field.column])
        else:
            values.append("%s")
            fields.append(field)
    into = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({', '.join(columns)})"
    if source:
        # Names come from model metadata and callers' constants; every value is a parameter.
        return f"{into} SELECT {', '.join(values)} FROM {source}", fields
    return f"{into} VALUES ({', '.join(values)})", fields


def row_insert_sql(
    obj: models.Model, *, source: str = "", computed: tuple[tuple[str, str], ...] = ()
) -> tuple[str, list]:
    """Return an INSERT of one new model instance and its parameters, without Django's compiler.

    Values are prepared by each field, as Django's own INSERT does. `computed` gives some columns
    an SQL expression over `source`, the relation the row is selected from, instead of a value.
    """
    sql, fields = _insert_plan(type(obj), source, computed, obj.pk is not None)
    return sql, [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def rows_insert_together(*objs) -> None:
    """Insert new model instances all or none; on PostgreSQL in one statement, one round trip.

    Rows that others point at need their primary key set already (UUIDv7 defaults are); an
    auto-incremented id is left to the database and not read back. PostgreSQL runs the INSERTs as
    data-modifying CTEs of a single statement (its foreign keys are checked at the end of it).
    """
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for obj in objs:
                obj.save(force_insert=True)
        return
    parts, params = [], []
    for obj in objs:
        sql, values = row_insert_sql(obj)
        parts.append(sql)
        params.extend(values)
    *first, last = parts
    statement = "WITH " + ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(first)) + " " + last
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
    for obj in objs:
        obj._state.adding = False
