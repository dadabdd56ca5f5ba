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
from typing import Callable, TypeVar

from psycopg import errors as pg_errors
from psycopg import pq

from . import _wire, backend, backlog, caller, lockwait, names, settings, statements
from ._plpy import Plpy
from .errors import INTERNAL_ERROR, JobmonError
from .server_errors import server_error

Params = Sequence["bytes | None"]

_Outcome = TypeVar("_Outcome")

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
        self._backlog = backlog.Backlog(self._checked_error)
        self._pipelined = False
        self._prepared_to_send = False

    @property
    def unanswered(self) -> int:
        """Writes sent without waiting whose answer has not been read yet."""
        return len(self._backlog)

    def is_open(self) -> bool:
        """Whether it is still open, reading what the server sent since without waiting.

        An EOF comes if its backend was terminated or the server restarted; a
        notification if dblink_mapping_jobmon may have changed (see take_notified).
        """
        if self._pgconn.status != _OK:
            return False
        try:
            if not _wire.read_pending(self._pgconn, self._socket):
                return True  # nothing came: the answers read before were looked at
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
        """Run one prepared statement; a server error becomes a JobmonError.

        Writes sent without waiting are answered first, and a failure among them is
        raised instead of running this one.
        """
        if self._pipelined:
            self.settle(plpy)
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
        if self._pipelined:
            self.settle(plpy)
        results = self._exchange(lambda: self._pgconn.send_query(script.encode()), plpy)
        for result in results:
            self._checked(result)
        return results[-1]

    def send(
        self,
        statement: statements.Statement,
        params: Params,
        plpy: Plpy,
        write: backlog.SentWrite,
    ) -> None:
        """Send one write and return without waiting for its answer (see backlog.py).

        First, the writes sent before it are brought down to backlog.UNANSWERED_LIMIT
        less one, waiting if need be. A failure among them is raised instead, and this
        write is not sent.
        """
        pgconn, pending = self._pgconn, self._backlog
        pending.take_answers(pgconn)
        if len(pending) >= backlog.UNANSWERED_LIMIT or pending.failures or not self._pipelined:
            self._ready_to_send(plpy)
        # The common case costs no more than this: it is most of what such a call does.
        try:
            pgconn.send_query_prepared(statement.wire_name, params)
            pgconn.pipeline_sync()
        except pg_errors.OperationalError as error:
            raise self._lost(error, sent=False) from None
        pending.add(write)
        try:
            unsent = pgconn.flush()
        except pg_errors.OperationalError as error:
            raise self._lost(error, sent=True) from None
        if unsent:  # the socket's buffer is full: wait, reading the answers

            def read() -> None:
                pending.take_answers(pgconn)
                self._take_notifications()

            watch = lockwait.LockWatch(plpy, self)
            self._guarded(lambda: _wire.flush(pgconn, self._socket, watch, read), plpy)
        # Its server goes idle only once it has answered: from now at the earliest.
        self._last_answer = time.monotonic()

    def _lost(self, error: Exception, *, sent: bool) -> _wire.ConnectionLost:
        return self._dropped(_wire.ConnectionLost(str(error), sent=sent))

    def _dropped(self, lost: _wire.ConnectionLost) -> _wire.ConnectionLost:
        """The connection broke: it is closed, and its writes unanswered are counted."""
        lost.unanswered = len(self._backlog.forget())
        self.close()
        return lost

    def _ready_to_send(self, plpy: Plpy) -> None:
        """Leave at most UNANSWERED_LIMIT less one writes unanswered (waiting for the
        oldest), raise a failure found among them, and enter pipeline mode."""
        pending = self._backlog
        if len(pending) >= backlog.UNANSWERED_LIMIT:
            self._wait_for_answers(backlog.UNANSWERED_LIMIT - 1, plpy)
        if pending.failures:
            self.settle(plpy)
        if not self._prepared_to_send:
            # All at once, before anything is pending: preparing one later would wait.
            self.run_script(statements.prepare_sent(self.schema), plpy)
            self._prepared_to_send = True
        if not self._pipelined:
            self._pgconn.enter_pipeline_mode()
            self._pipelined = True

    def settle(self, plpy: Plpy) -> None:
        """Wait for the answers of the writes sent without waiting, and raise the first
        failure among them (the others go out as WARNINGs before it)."""
        if self._pipelined:
            self._wait_for_answers(0, plpy)
            self._pgconn.exit_pipeline_mode()
            self._pipelined = False
        failures = self._backlog.take_failures()
        if failures:
            raise _reported(failures, plpy)

    def _answered_down_to(self, left: int) -> Callable[[], bool]:
        """For _wire.wait_until: takes the answers read, true once at most ``left``
        writes sent without waiting are unanswered."""
        pgconn, pending = self._pgconn, self._backlog

        def answered() -> bool:
            pending.take_answers(pgconn)
            return len(pending) <= left

        return answered

    def _wait_for_answers(self, left: int, plpy: Plpy) -> None:
        """Wait until at most ``left`` writes sent without waiting are unanswered."""
        answered, watch = self._answered_down_to(left), lockwait.LockWatch(plpy, self)
        self._guarded(lambda: _wire.wait_until(self._pgconn, self._socket, answered, watch), plpy)
        self._last_answer = time.monotonic()
        self._take_notifications()

    def settle_at_exit(self, deadline: float) -> tuple[list[backlog.Failure], int]:
        """As the backend exits: wait for the answers until ``deadline`` (monotonic) at
        most, without SPI (no transaction is left to run it), and not past a terminate;
        the failures, and how many writes got no answer."""
        if self._pipelined:
            answered = self._answered_down_to(0)
            with contextlib.suppress(TimeoutError, _wire.ConnectionLost):
                _wire.wait_until(self._pgconn, self._socket, answered, _while_exiting, deadline)
            if not self._backlog:
                self._pgconn.exit_pipeline_mode()
                self._pipelined = False
        return self._backlog.take_failures(), len(self._backlog.forget())

    @property
    def has_failures(self) -> bool:
        """Whether a write sent without waiting failed, and no call has raised it yet."""
        return bool(self._backlog.failures)

    def run_at_exit(self, query: str, params: Params, deadline: float) -> bool:
        """Run ``query`` as the backend exits: without SPI, until ``deadline`` (monotonic)
        at most, and not past a terminate; whether it ran without error."""
        pgconn, results = self._pgconn, []

        def answered() -> bool:
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:
                    return True
                results.append(result)
            return False

        try:
            pgconn.send_query_params(query.encode(), params)
            _wire.wait_until(pgconn, self._socket, answered, _while_exiting, deadline)
        except (TimeoutError, _wire.ConnectionLost, pg_errors.OperationalError):
            return False
        return all(result.status != _FATAL_ERROR for result in results)

    def parameter(self, name: str) -> str | None:
        """A setting that the server reports with every connection (ParameterStatus)."""
        value = self._pgconn.parameter_status(name.encode())
        return None if value is None else value.decode()

    def close(self) -> None:
        self._pgconn.finish()

    def _exchange(self, send: Callable[[], None], plpy: Plpy) -> list[pq.abc.PGresult]:
        watch = lockwait.LockWatch(plpy, self)
        results = self._guarded(
            lambda: _wire.exchange(self._pgconn, self._socket, send, watch), plpy
        )
        self._last_answer = time.monotonic()
        self._take_notifications()
        return results

    def _guarded(self, work: Callable[[], _Outcome], plpy: Plpy) -> _Outcome:
        """Do ``work`` on the socket; if it is cut short, the connection is not reused."""
        global _in_flight
        _in_flight = self
        try:
            return work()
        except _wire.ConnectionLost as lost:
            failures = self._backlog.take_failures()
            dropped = self._dropped(lost)  # its error counts the writes unanswered
            _warn_of(failures, [], plpy)
            raise dropped from None
        except BaseException:
            # Cut short (a cancel, a timeout, a lock): the error that goes on names none
            # of the failures that came nor the writes given up with the connection.
            given_up, failures = self._backlog.forget(), self._backlog.take_failures()
            self._abandon(plpy)
            _warn_of(failures, given_up, plpy)
            raise
        finally:
            _in_flight = None

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
            raise self._checked_error(result)
        return result

    def _checked_error(self, result: pq.abc.PGresult) -> JobmonError:
        return server_error(result, self.parameter("session_authorization"))

    def _take_notifications(self) -> None:
        while (notify := self._pgconn.notifies()) is not None:
            if notify.relname.decode() == names.CONFIG_CHANNEL:
                self._notified = True


def _while_exiting() -> None:
    """Between polls as the backend exits: a terminate ends the wait, since no interrupt
    is acted on any more."""
    if backend.state is not None and backend.state.terminated():
        raise TimeoutError


def _reported(failures: list[backlog.Failure], plpy: Plpy) -> JobmonError:
    """The first failure of writes sent without waiting, as this call's error; the others
    go out as WARNINGs first, so that none is dropped."""
    errors = [failure.write.explain(plpy, failure.error) for failure in failures]
    for failure, error in zip(failures[1:], errors[1:]):
        _warn_failed(failure, error, plpy)
    first, later = failures[0], len(failures) - 1
    also = f" {later} later such writes failed too (see the WARNINGs)." if later else ""
    return JobmonError(
        errors[0].message,
        sqlstate=errors[0].sqlstate,
        detail=_joined(
            errors[0].detail,
            f"The write was {first.write.call}, sent without waiting for its answer"
            f" ({settings.WAIT_FOR_WRITES} is off); this call logged nothing.{also}",
        ),
        hint=errors[0].hint,
    )


def _joined(detail: str | None, more: str) -> str:
    return f"{detail} {more}" if detail else more


def _warn_failed(failure: backlog.Failure, error: JobmonError, plpy: Plpy) -> None:
    plpy.warning(
        f"a log write sent without waiting failed: {error.message}",
        detail=_joined(error.detail, f"The write was {failure.write.call}."),
    )


_GIVEN_UP = (
    "The wait for its answer was cut short, and the logging connection closed:"
    " whether it was committed is unknown."
)

# What a wait cut short left that no WARNING could reach the caller with: the failures,
# and how many writes were given up. The session's end reports them (take_unreported).
_unreported: list[backlog.Failure] = []
_unreported_given_up = 0


def _warn_of(
    failures: list[backlog.Failure], given_up: list[backlog.SentWrite], plpy: Plpy
) -> None:
    """A WARNING for each failure that came and each write given up, which the error of
    a wait cut short does not name; what none can go out for is kept for the session's
    end."""
    global _unreported_given_up
    warned = 0
    try:
        for failure in failures:
            _warn_failed(failure, _explained(failure, plpy), plpy)
            warned += 1
        for write in given_up:
            plpy.warning(
                f"a log write sent without waiting was given up: {write.call}", detail=_GIVEN_UP
            )
            warned += 1
    except Exception:  # no WARNING goes out: the server log and unreported_writes remain
        _unreported.extend(failures[warned:])
        _unreported_given_up += len(given_up) - max(0, warned - len(failures))


def _explained(failure: backlog.Failure, plpy: Plpy) -> JobmonError:
    """The failure as the next call would raise it, else (its lookup cannot be made now)
    as it came."""
    try:
        return failure.write.explain(plpy, failure.error)
    except Exception:
        return failure.error or JobmonError(failure.reason, sqlstate=INTERNAL_ERROR)


def take_unreported() -> tuple[list[backlog.Failure], int]:
    """The failures and the number of writes given up that no WARNING reported."""
    global _unreported_given_up
    failures, given_up = list(_unreported), _unreported_given_up
    _unreported.clear()
    _unreported_given_up = 0
    return failures, given_up


# The connection whose exchange is under way: the only one _cancel_logging_write() may
# signal, so that calling it directly can cancel nothing else.
_in_flight: LoggingConnection | None = None

_CANCEL = "SELECT pg_catalog.pg_cancel_backend($1)"


def cancel_in_flight(plpy: Plpy) -> None:
    """Signal the backend of the write in flight, if it runs on the caller's server."""
    if _in_flight is not None and _in_flight.same_server:
        plpy.execute(caller.plan(plpy, _CANCEL, ("pg_catalog.int4",)), [_in_flight.backend_pid])
