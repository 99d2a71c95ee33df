"""A lean INSERT for the rows an intake writes (the case, its report, its events).

The ORM's save() and bulk_create() spend most of an intake's CPU compiling the statement: per
field a pre_save, an expression check, a placeholder and a quoted name, for ~70 columns. These
models have no auto_now fields, no expressions among their values and no save signals, so the
values are the fields' database values and nothing else: one list comprehension. The columns
and the statement's text are built once per model and row count."""

from __future__ import annotations

from functools import cache

from django.db import connection
from django.db.models import Model


@cache
def _columns(model: type[Model], with_pk: bool) -> tuple[tuple, str, str]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if with_pk or not f.primary_key)
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return fields, head, one


def insert_sql(objs: list[Model]) -> tuple[str, list]:
    """The INSERT of `objs` (all of one model, ids set) and its parameters, for the caller to
    send, alone or within a larger statement."""
    fields, head, one = _columns(type(objs[0]), True)
    params = [f.get_db_prep_save(getattr(o, f.attname), connection) for o in objs for f in fields]
    return f"{head} VALUES {', '.join([one] * len(objs))}", params


def mark_saved(objs: list[Model]) -> None:
    for o in objs:
        o._state.adding = False
        o._state.db = connection.alias


def insert_rows(objs: list[Model], *, with_pk: bool = False) -> list[Model]:
    """INSERT `objs` (all of one model) in one statement. Without `with_pk` the database
    numbers them and each object gets its id back (RETURNING, in the order of the VALUES)."""
    if not objs:
        return objs
    model = type(objs[0])
    fields, head, one = _columns(model, with_pk)
    sql = f"{head} VALUES {', '.join([one] * len(objs))}"
    params = [f.get_db_prep_save(getattr(o, f.attname), connection) for o in objs for f in fields]
    with connection.cursor() as cur:
        if with_pk:
            cur.execute(sql, params)
        else:
            cur.execute(
                f"{sql} RETURNING {connection.ops.quote_name(model._meta.pk.column)}", params
            )
            for o, (pk,) in zip(objs, cur.fetchall(), strict=True):
                o.pk = pk
    for o in objs:
        o._state.adding = False
        o._state.db = connection.alias
    return objs
