"""Opening a session's logging connection: where it goes, how it is readied, who may use it.

The connection's settings come from dblink_mapping_jobmon, which callers may not read
(it may hold a password). So the opening itself runs in the SECURITY DEFINER function
_open_logging_connection(), with the rights of the extension's owner, and hands the
open connection (or why it failed) to the caller's side through ``_handoff``: the only
state that crosses that boundary.

The function is callable from SQL by any role the job-runner grant covers, so it keeps
its own rules whoever calls it. It opens a connection only for a log call of this
package, which arms the hand-off just before calling it and takes the connection just
after: a direct call finds it unarmed and opens nothing. Who the caller is (may it take
a superuser's connection slot?) is read on the caller's side, before the call, and
carried in by the arming; a connection that the caller may not keep is closed before
the function returns.
"""

from __future__ import annotations

from typing import NamedTuple

from psycopg import pq
from psycopg.conninfo import make_conninfo

from . import _wire, caller, config, freshness, lookup, settings, statements
from ._plpy import Plpy
from .errors import (
    INSUFFICIENT_PRIVILEGE,
    INTERNAL_ERROR,
    READ_ONLY_SQL_TRANSACTION,
    TOO_MANY_CONNECTIONS,
    UNABLE_TO_CONNECT,
    JobmonError,
)
from .link import LoggingConnection
from .server_errors import STANDBY_HINT

CONNECT_TIMEOUT_SECONDS = 10.0


class Opened(NamedTuple):
    """A new logging connection, and what the caller's side decides by.

    (NamedTuples rather than dataclasses here: a session's first log call compiles
    these modules, and a dataclass costs a further millisecond to make.)
    """

    link: LoggingConnection
    freshness: freshness.Freshness
    in_reserved_slot: bool


class _Handoff:
    """Carries the outcome of the opening out of the SECURITY DEFINER function.

    ``armed``: None unless a log call of this package is opening a connection, else
    whether its caller may keep one in a slot reserved for superusers.
    """

    def __init__(self) -> None:
        self._outcome: Opened | JobmonError | None = None
        self.armed: bool | None = None

    def put(self, outcome: Opened | JobmonError) -> None:
        self.discard()
        self._outcome = outcome

    def take(self) -> Opened:
        outcome, self._outcome = self._outcome, None
        if isinstance(outcome, JobmonError):
            raise outcome
        if outcome is None:
            raise JobmonError("the logging connection was not opened", sqlstate=INTERNAL_ERROR)
        return outcome

    def discard(self) -> None:
        if isinstance(self._outcome, Opened):
            self._outcome.link.close()
        self._outcome = None


_handoff = _Handoff()


def open_logging_connection(plpy: Plpy) -> Opened:
    """Open the session's logging connection; the caller's side of the opening."""
    schema = caller.extension_schema(plpy)
    _handoff.armed = caller.is_superuser(plpy)
    try:
        plpy.execute(f"SELECT {schema}._open_logging_connection()")
    except BaseException:
        _handoff.discard()
        raise
    finally:
        _handoff.armed = None
    return _handoff.take()


def open_for_session(plpy: Plpy) -> None:
    """The SECURITY DEFINER side: open a connection and leave the outcome in the hand-off."""
    may_take_reserved_slot = _handoff.armed
    if may_take_reserved_slot is None:
        raise JobmonError(
            "_open_logging_connection() opens connections for pg_jobmon's log calls only",
            sqlstate=INSUFFICIENT_PRIVILEGE,
            hint="Call add_job() or another log call: it opens the connection it needs.",
        )
    try:
        _handoff.put(_kept(_opened(plpy), may_take_reserved_slot))
    except JobmonError as failure:
        _handoff.put(failure)


def _kept(opened: Opened, may_take_reserved_slot: bool) -> Opened:
    if opened.in_reserved_slot and not may_take_reserved_slot:
        # Only superusers may take those slots: the caller is not one.
        opened.link.close()
        raise _out_of_slots(f"Only slots reserved for superusers were left ({opened.link.target}).")
    return opened


def _opened(plpy: Plpy) -> Opened:
    schema = caller.extension_schema(plpy)
    version, mapping = _mapping_row(plpy, schema)
    idle_timeout_ms = settings.idle_timeout(plpy)
    keywords = config.connection_keywords(
        mapping,
        config.read_server_address(caller.data_directory()),
        caller.current_database(plpy),
        caller.backend_pid(),
        settings.synchronous_commit(plpy),
        idle_timeout_ms,
    )
    link = LoggingConnection(_connect(keywords, plpy), schema, config.describe(keywords))
    link.idle_timeout = idle_timeout_ms / 1000
    try:
        _refuse_a_standby(link.parameter("in_hot_standby"), link.target)
        facts = link.run_script(statements.session_setup(schema), plpy)
        link.same_server = _value(facts, 0) == caller.postmaster_started(plpy)
        # A change of the row that the caller's snapshot cannot see yet is announced
        # before the LISTEN, or not at all: then the caller's side watches for it.
        announced = link.same_server and freshness.version_seen_by_logger(plpy, link) == version
        return Opened(link, freshness.Freshness(version, announced), _value(facts, 1) == "t")
    except BaseException:
        link.close()
        raise


def _value(result: pq.abc.PGresult, column: int) -> str | None:
    value = result.get_value(0, column)
    return None if value is None else value.decode()


def _refuse_a_standby(in_hot_standby: str | None, target: str) -> None:
    # Reported by PostgreSQL 14 and later: a standby could take no log write at all.
    if in_hot_standby == "on":
        raise JobmonError(
            "the pg_jobmon logging connection reached a hot standby",
            sqlstate=READ_ONLY_SQL_TRANSACTION,
            detail=f"Connected to {target}.",
            hint=STANDBY_HINT,
        )


def _mapping_row(plpy: Plpy, schema: str) -> tuple[str, dict[str, str | None] | None]:
    """The row's version (as _dblink_mapping_version() gives it) and its settings."""
    columns = ", ".join(config.MAPPING_KEYWORDS)
    rows = plpy.execute(
        f"SELECT m.xmin::pg_catalog.text AS row_version, {columns}"
        f" FROM {schema}.dblink_mapping_jobmon AS m"
    )
    if not len(rows):
        return "none", None
    row = dict(rows[0])
    return str(row.pop("row_version")), row


def _connect(keywords: dict[str, str], plpy: Plpy) -> pq.abc.PGconn:
    interrupts = caller.interrupt_checker(plpy)
    try:
        looked_up = lookup.with_addresses(keywords, interrupts, CONNECT_TIMEOUT_SECONDS)
        return _wire.connect(make_conninfo(**looked_up), interrupts, CONNECT_TIMEOUT_SECONDS)
    except (lookup.LookupFailed, _wire.ConnectFailed) as failure:
        detail = f"{failure} (connecting to {config.describe(keywords)})"
        if any(words in str(failure) for words in _OUT_OF_SLOTS):
            raise _out_of_slots(detail) from None
        raise JobmonError(
            "could not open the pg_jobmon logging connection",
            sqlstate=UNABLE_TO_CONNECT,
            detail=detail,
            hint="Check the row of dblink_mapping_jobmon and pg_hba.conf.",
        ) from None


def _out_of_slots(detail: str) -> JobmonError:
    return JobmonError(
        "could not open the pg_jobmon logging connection",
        sqlstate=TOO_MANY_CONNECTIONS,
        detail=detail,
        hint=(
            "The server has no connection slot left. Each session that logs through pg_jobmon"
            " holds a second connection: raise max_connections to allow for them."
        ),
    )


# The server's words when no connection slot is left for the logging role (in its
# default language): every slot is taken, or only those kept for superusers are left.
_OUT_OF_SLOTS = ("too many clients already", "remaining connection slots are reserved")
