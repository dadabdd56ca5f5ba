"""The session's logging connection: opened on first use, checked, replaced.

One libpq connection per calling backend, in autocommit, so that each log write
commits on its own whatever becomes of the caller's transaction. It lives as long as
the loaded package, which PL/Python's GD holds for the life of the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.conninfo import make_conninfo

from . import _wire, caller, config, lockwait, settings, statements
from ._plpy import Plpy
from .errors import (
    CONNECTION_FAILURE,
    INTERNAL_ERROR,
    READ_ONLY_SQL_TRANSACTION,
    TOO_MANY_CONNECTIONS,
    UNABLE_TO_CONNECT,
    JobmonError,
)

CONNECT_TIMEOUT_SECONDS = 10.0

Params = Sequence["bytes | None"]


class LoggingConnection:
    """A ready logging connection: its statements prepared, listening for new config."""

    def __init__(self, pgconn: pq.abc.PGconn) -> None:
        self._pgconn = pgconn
        self._socket = _wire.Socket(pgconn.socket)
        self._backend_pid = pgconn.backend_pid
        self._config_changed = False

    def is_usable(self) -> bool:
        """Whether it is still open and its configuration still current.

        Reads what the server sent since the last call without waiting: an
        EOF if its backend was terminated or the server restarted, a notification
        if dblink_mapping_jobmon changed.
        """
        if self._pgconn.status != _OK:
            return False
        try:
            _wire.read_pending(self._pgconn, self._socket)
        except pg_errors.OperationalError:
            return False
        self._take_notifications()
        return not self._config_changed and self._pgconn.status == _OK

    def run(self, statement: statements.Statement, params: Params, plpy: Plpy) -> pq.abc.PGresult:
        """Run one prepared statement; a server error becomes a JobmonError."""
        pgconn, name = self._pgconn, statement.wire_name
        results = self._exchange(lambda: pgconn.send_query_prepared(name, params), plpy)
        if len(results) != 1:
            raise JobmonError(
                f"unexpected {len(results)} results from the logging connection",
                sqlstate=INTERNAL_ERROR,
            )
        return _checked(results[0])

    def run_script(self, script: str, plpy: Plpy) -> None:
        """Run fixed commands in one round trip (simple query protocol)."""
        for result in self._exchange(lambda: self._pgconn.send_query(script.encode()), plpy):
            _checked(result)

    def close(self) -> None:
        self._pgconn.finish()

    def parameter(self, name: str) -> str | None:
        """A setting that the server reports with every connection (ParameterStatus)."""
        value = self._pgconn.parameter_status(name.encode())
        return None if value is None else value.decode()

    def _exchange(self, send: Callable[[], None], plpy: Plpy) -> list[pq.abc.PGresult]:
        try:
            watch = lockwait.LockWatch(plpy, self._backend_pid)
            results = _wire.exchange(self._pgconn, self._socket, send, watch)
        except BaseException:
            # Broken or interrupted mid-exchange: its state is unknown, never reused.
            self.close()
            raise
        self._take_notifications()
        return results

    def _take_notifications(self) -> None:
        while (notify := self._pgconn.notifies()) is not None:
            if notify.relname.decode() == statements.CONFIG_CHANNEL:
                self._config_changed = True


_OK = pq.ConnStatus.OK
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR


def _checked(result: pq.abc.PGresult) -> pq.abc.PGresult:
    if result.status == _FATAL_ERROR:
        raise server_error(result)
    return result


def server_error(result: pq.abc.PGresult) -> JobmonError:
    """The error the logging session reported, passed on with its SQLSTATE."""

    def field(code: pq.DiagnosticField) -> str | None:
        value = result.error_field(code)
        return None if value is None else value.decode("utf-8", "replace")

    sqlstate = field(pq.DiagnosticField.SQLSTATE) or INTERNAL_ERROR
    return JobmonError(
        field(pq.DiagnosticField.MESSAGE_PRIMARY) or "unknown error",
        sqlstate=sqlstate,
        detail=field(pq.DiagnosticField.MESSAGE_DETAIL),
        hint=field(pq.DiagnosticField.MESSAGE_HINT)
        or (_STANDBY_HINT if sqlstate == READ_ONLY_SQL_TRANSACTION else None),
    )


_STANDBY_HINT = (
    "The logging connection reached a server in recovery, such as a hot standby."
    " Name the primary in dblink_mapping_jobmon, or list every server there with"
    " target_session_attrs 'read-write'."
)


_current: LoggingConnection | None = None
# Why the last opening failed: raised again on the caller's side, not inside the
# SECURITY DEFINER function, so that it reaches the caller as pg_jobmon's own error.
_open_failure: JobmonError | None = None


def current(plpy: Plpy) -> LoggingConnection:
    """The session's usable logging connection, opened or replaced as needed.

    Opening it reads dblink_mapping_jobmon, which the caller may not read: so it is
    done by the SECURITY DEFINER function _open_logging_connection(), with the rights
    of the extension's owner. The password never leaves that function.
    """
    global _open_failure
    if _current is not None and _current.is_usable():
        return _current
    close()
    schema = caller.extension_schema(plpy)
    plpy.execute(f"SELECT {schema}._open_logging_connection()")
    failure, _open_failure = _open_failure, None
    if failure is not None:
        raise failure
    if _current is None:
        raise JobmonError("the logging connection was not opened", sqlstate=INTERNAL_ERROR)
    return _current


def open_for_session(plpy: Plpy) -> None:
    """Open the session's logging connection unless a usable one is open already."""
    global _current, _open_failure
    if _current is not None and _current.is_usable():
        return
    close()
    try:
        _current = _opened(plpy)
    except JobmonError as failure:
        _open_failure = failure


def _opened(plpy: Plpy) -> LoggingConnection:
    keywords = config.connection_keywords(
        _mapping_row(plpy),
        config.read_server_address(caller.data_directory()),
        caller.current_database(plpy),
        caller.backend_pid(),
        settings.synchronous_commit(plpy),
    )
    connection = LoggingConnection(_connect(keywords, plpy))
    try:
        _refuse_a_standby(connection.parameter("in_hot_standby"), keywords)
        connection.run_script(statements.session_setup(caller.extension_schema(plpy)), plpy)
    except BaseException:
        connection.close()
        raise
    return connection


def _refuse_a_standby(in_hot_standby: str | None, keywords: dict[str, str]) -> None:
    # Reported by PostgreSQL 14 and later: a standby could take no log write at all.
    if in_hot_standby == "on":
        raise JobmonError(
            "the pg_jobmon logging connection reached a hot standby",
            sqlstate=READ_ONLY_SQL_TRANSACTION,
            detail=f"Connected to {config.describe(keywords)}.",
            hint=_STANDBY_HINT,
        )


def close() -> None:
    """Close the session's logging connection, if any."""
    global _current
    if _current is not None:
        _current.close()
        _current = None


def run(plpy: Plpy, statement: statements.Statement, params: Params) -> pq.abc.PGresult:
    """Run a fixed statement on the logging connection; its write commits at once.

    If the connection broke before the statement left, it is run once more on a new
    connection; if it broke after, the outcome is unknown and the error says so:
    retrying could log the same thing twice.
    """
    for attempt in (1, 2):
        try:
            return current(plpy).run(statement, params, plpy)
        except _wire.ConnectionLost as lost:
            if lost.sent or attempt == 2:
                raise _lost(lost) from None
    raise AssertionError("unreachable")


def _lost(lost: _wire.ConnectionLost) -> JobmonError:
    outcome = "Whether it was committed is unknown. " if lost.sent else ""
    return JobmonError(
        "lost the pg_jobmon logging connection during a log write",
        sqlstate=CONNECTION_FAILURE,
        detail=f"{outcome}{lost}",
    )


def _mapping_row(plpy: Plpy) -> dict[str, str | None] | None:
    schema = caller.extension_schema(plpy)
    columns = ", ".join(config.MAPPING_KEYWORDS)
    rows = plpy.execute(f"SELECT {columns} FROM {schema}.dblink_mapping_jobmon")
    return dict(rows[0]) if len(rows) else None


def _connect(keywords: dict[str, str], plpy: Plpy) -> pq.abc.PGconn:
    try:
        return _wire.connect(
            make_conninfo(**keywords),
            caller.interrupt_checker(plpy),
            CONNECT_TIMEOUT_SECONDS,
        )
    except _wire.ConnectFailed as failure:
        out_of_slots = _OUT_OF_SLOTS in str(failure)
        raise JobmonError(
            "could not open the pg_jobmon logging connection",
            sqlstate=TOO_MANY_CONNECTIONS if out_of_slots else UNABLE_TO_CONNECT,
            detail=f"{failure} (connecting to {config.describe(keywords)})",
            hint=_OUT_OF_SLOTS_HINT if out_of_slots else _CONNECT_HINT,
        ) from None


_CONNECT_HINT = "Check the row of dblink_mapping_jobmon and pg_hba.conf."
# The server's words when every connection slot is taken (in its default language).
_OUT_OF_SLOTS = "too many clients already"
_OUT_OF_SLOTS_HINT = (
    "The server has no connection slot left. Each session that logs through pg_jobmon"
    " holds a second connection: raise max_connections to allow for them."
)
