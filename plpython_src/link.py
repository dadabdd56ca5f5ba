"""One open logging connection: runs fixed statements, and reads what the server sent.

A libpq connection in autocommit, so that each write commits on its own whatever
becomes of the caller's transaction. Everything it waits for goes through _wire, which
keeps the caller interruptible, and a write that is given up on is cancelled and the
connection dropped: its state is unknown, and it is never reused.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Callable

from psycopg import errors as pg_errors
from psycopg import pq

from . import _wire, caller, lockwait, names, statements
from ._plpy import Plpy
from .errors import INTERNAL_ERROR, JobmonError
from .server_errors import server_error

Params = Sequence["bytes | None"]

_OK = pq.ConnStatus.OK
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR

# How long before the server's idle_session_timeout a connection counts as too idle to
# send a write on (at most half the timeout): the server must not close it while the
# write travels, or the write's outcome would be unknown.
IDLE_MARGIN_SECONDS = 5.0


class LoggingConnection:
    """An open logging connection into the database of the extension's ``schema``.

    ``target`` describes where it goes, for messages (never with the password);
    ``same_server`` tells whether its backend runs on the caller's own server, where
    the caller can see the locks it waits for and signal it. ``idle_timeout``: the
    seconds of its server's idle_session_timeout, 0 for none.
    """

    def __init__(self, pgconn: pq.abc.PGconn, schema: str, target: str) -> None:
        self._pgconn = pgconn
        self._socket = _wire.Socket(pgconn.socket)
        self.backend_pid = pgconn.backend_pid
        self.schema = schema
        self.target = target
        self.same_server = False
        self._notified = False
        self._prepared_on_demand: set[str] = set()
        self.idle_timeout = 0.0
        self._last_answer = time.monotonic()

    def is_open(self) -> bool:
        """Whether it is still open, reading what the server sent since without waiting.

        An EOF comes if its backend was terminated or the server restarted; a
        notification if dblink_mapping_jobmon may have changed (see take_notified).
        """
        if self._pgconn.status != _OK:
            return False
        try:
            _wire.read_pending(self._pgconn, self._socket)
        except pg_errors.OperationalError:
            return False
        self._take_notifications()
        return self._pgconn.status == _OK

    def near_idle_timeout(self) -> bool:
        """Whether it has been idle so long that its server may close it at any moment.

        Its backend went idle before the last answer arrived, so it has been idle a
        little longer than measured here: the margin covers that and the way out.
        """
        if not self.idle_timeout:
            return False
        margin = min(self.idle_timeout / 2, IDLE_MARGIN_SECONDS)
        return time.monotonic() - self._last_answer >= self.idle_timeout - margin

    def take_notified(self) -> bool:
        """Whether a notification of a configuration change came since the last look."""
        notified, self._notified = self._notified, False
        return notified

    def run(self, statement: statements.Statement, params: Params, plpy: Plpy) -> pq.abc.PGresult:
        """Run one prepared statement; a server error becomes a JobmonError."""
        if statement.on_demand and statement.name not in self._prepared_on_demand:
            self.run_script(statement.prepare(self.schema), plpy)
            self._prepared_on_demand.add(statement.name)
        pgconn, name = self._pgconn, statement.wire_name
        results = self._exchange(lambda: pgconn.send_query_prepared(name, params), plpy)
        if len(results) != 1:
            raise JobmonError(
                f"unexpected {len(results)} results from the logging connection",
                sqlstate=INTERNAL_ERROR,
            )
        return self._checked(results[0])

    def run_script(self, script: str, plpy: Plpy) -> pq.abc.PGresult:
        """Run fixed commands in one round trip (simple query protocol); the last result."""
        results = self._exchange(lambda: self._pgconn.send_query(script.encode()), plpy)
        for result in results:
            self._checked(result)
        return results[-1]

    def parameter(self, name: str) -> str | None:
        """A setting that the server reports with every connection (ParameterStatus)."""
        value = self._pgconn.parameter_status(name.encode())
        return None if value is None else value.decode()

    def close(self) -> None:
        self._pgconn.finish()

    def _exchange(self, send: Callable[[], None], plpy: Plpy) -> list[pq.abc.PGresult]:
        global _in_flight
        _in_flight = self
        try:
            results = _wire.exchange(
                self._pgconn, self._socket, send, lockwait.LockWatch(plpy, self)
            )
        except _wire.ConnectionLost:
            self.close()
            raise
        except BaseException:
            self._abandon(plpy)
            raise
        finally:
            _in_flight = None
        self._last_answer = time.monotonic()
        self._take_notifications()
        return results

    def _abandon(self, plpy: Plpy) -> None:
        """Give up on the statement in flight: cancel it where the caller can, and close.

        libpq's own cancel blocks until the server answers, which a frozen server or a
        lost network never does. So a backend on the caller's server is signalled (by
        _cancel_logging_write(), which may signal the logging role's backends), at once,
        before the caller's transaction ends and lets go of the locks it waits for; any
        other learns from the closed socket (see statements.session_setup).
        """
        if self.same_server:
            query = f"SELECT {self.schema}._cancel_logging_write()"
            with contextlib.suppress(Exception):  # best effort: the socket closes anyway
                plpy.execute(caller.plan(plpy, query))
        self.close()

    def _checked(self, result: pq.abc.PGresult) -> pq.abc.PGresult:
        if result.status == _FATAL_ERROR:
            raise server_error(result, self.parameter("session_authorization"))
        return result

    def _take_notifications(self) -> None:
        while (notify := self._pgconn.notifies()) is not None:
            if notify.relname.decode() == names.CONFIG_CHANNEL:
                self._notified = True


# The connection whose exchange is under way: the only one _cancel_logging_write() may
# signal, so that calling it directly can cancel nothing else.
_in_flight: LoggingConnection | None = None

_CANCEL = "SELECT pg_catalog.pg_cancel_backend($1)"


def cancel_in_flight(plpy: Plpy) -> None:
    """Signal the backend of the write in flight, if it runs on the caller's server."""
    if _in_flight is not None and _in_flight.same_server:
        plpy.execute(caller.plan(plpy, _CANCEL, ("pg_catalog.int4",)), [_in_flight.backend_pid])
