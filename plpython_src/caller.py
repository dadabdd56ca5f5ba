"""What pg_jobmon needs from the caller's own session, through SPI.

Everything that describes the caller (its role, its backend) is read here, on the
caller's side, never from the logging connection. The log calls run under the caller's
search_path, so every query made here names each function, operator and type with its
schema.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from . import identity
from ._plpy import Plan, Plpy

_plans: dict[str, Plan] = {}


def plan(plpy: Plpy, query: str, argtypes: tuple[str, ...] = ()) -> Plan:
    """``query`` prepared once for the backend's life (plpy.prepare keeps it).

    ``query`` and ``argtypes`` must name everything with its schema (pg_catalog.text).
    """
    prepared = _plans.get(query)
    if prepared is None:
        prepared = _plans[query] = plpy.prepare(query, argtypes)
    return prepared


def _value(plpy: Plpy, query: str) -> object:
    return plpy.execute(plan(plpy, query))[0]["value"]


def current_user(plpy: Plpy) -> str:
    """The role the caller acts as now (SET ROLE and SECURITY DEFINER included)."""
    return identity.current_user(plpy, plan)


def is_superuser(plpy: Plpy) -> bool:
    """Whether the role the caller acts as now is a superuser."""
    query = (
        "SELECT r.rolsuper AS value FROM pg_catalog.pg_roles AS r"
        " WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER"
    )
    return bool(_value(plpy, query))


_postmaster_started: str | None = None


def postmaster_started(plpy: Plpy) -> str:
    """When the caller's server started, as statements.SERVER_FACTS gives it.

    Read once: a backend never outlives the server start it was born in.
    """
    global _postmaster_started
    if _postmaster_started is None:
        query = (
            "SELECT extract(epoch FROM pg_catalog.pg_postmaster_start_time())::pg_catalog.text"
            " AS value"
        )
        _postmaster_started = str(_value(plpy, query))
    return _postmaster_started


def current_database(plpy: Plpy) -> str:
    """The database the caller is connected to."""
    return str(_value(plpy, "SELECT pg_catalog.current_database()::pg_catalog.text AS value"))


def backend_pid() -> int:
    """The caller's pg_backend_pid(): PL/Python runs inside that very process."""
    return os.getpid()


def data_directory() -> Path:
    """The server's data directory: every backend runs with it as working directory."""
    return Path.cwd()


def interrupt_checker(plpy: Plpy) -> Callable[[], object]:
    """A call that lets PostgreSQL act on the caller's pending interrupts.

    pg_sleep(0) runs CHECK_FOR_INTERRUPTS(), so a pending cancel, statement timeout
    or termination raises here, in the caller's session.
    """
    prepared = plan(plpy, "SELECT pg_catalog.pg_sleep(0)")
    return lambda: plpy.execute(prepared)


def extension_schema(plpy: Plpy) -> str:
    """The schema pg_jobmon was installed into, quoted as an identifier."""
    name = _value(
        plpy,
        "SELECT n.nspname::pg_catalog.text AS value"
        " FROM pg_catalog.pg_extension AS e"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
        " WHERE e.extname OPERATOR(pg_catalog.=) 'pg_jobmon'",
    )
    return plpy.quote_ident(str(name))


def next_job_id(plpy: Plpy, schema: str) -> int:
    """A new job id from job_log's sequence, taken in the caller's session: nextval is
    not undone by the caller's rollback."""
    return int(str(_value(plpy, f"SELECT {schema}._next_job_id() AS value")))


# Step ids taken ahead, ascending (see _next_step_ids()); they stay valid across the
# session's transactions, since nextval is not undone.
STEP_IDS_AHEAD = 16
_step_ids: list[int] = []


def next_step_id(plpy: Plpy, schema: str) -> int:
    """A new step id from job_detail's sequence, taken in the caller's session."""
    if not _step_ids:
        query = f"SELECT {schema}._next_step_ids($1) AS value"
        ids = plpy.execute(plan(plpy, query, ("pg_catalog.int4",)), [STEP_IDS_AHEAD])[0]["value"]
        _step_ids.extend(reversed(ids))
    return _step_ids.pop()
