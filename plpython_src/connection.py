"""The session's logging connection: opened on first use, replaced when it must be.

One per calling backend. It lives as long as the loaded package, which PL/Python's GD
holds for the life of the backend. Each log call checks it first, without waiting:
a connection whose backend is gone, or whose configuration row changed, is replaced.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from psycopg import pq

from . import _wire, backlog, caller, link, opening, statements
from ._plpy import Plpy
from .errors import CONNECTION_FAILURE, JobmonError

_Outcome = TypeVar("_Outcome")

_current: opening.Opened | None = None


def current(plpy: Plpy) -> link.LoggingConnection:
    """The session's usable logging connection, opened or replaced as needed."""
    global _current
    if _current is not None:
        cached = _current.link
        if cached.is_open():
            # One idle for nearly pg_jobmon.idle_timeout is replaced before anything is
            # sent on it, rather than raced against its server's closing it.
            if not cached.near_idle_timeout() and _current.freshness.holds(plpy, cached):
                return cached
            cached.settle(plpy)  # what was sent on it is answered before it goes
        elif cached.unanswered:
            unanswered = cached.unanswered
            close()
            raise _lost(_wire.ConnectionLost("the connection was closed", sent=False), unanswered)
        close()
    _current = opening.open_logging_connection(plpy)
    return _current.link


def schema(plpy: Plpy) -> str:
    """The extension's schema, quoted: the logging connection's once one is open."""
    return _current.link.schema if _current is not None else caller.extension_schema(plpy)


def opened() -> link.LoggingConnection | None:
    """The session's logging connection as it is, unchecked, if one was opened."""
    return None if _current is None else _current.link


def configuration_changed_here() -> None:
    """This session changed dblink_mapping_jobmon: its next call compares versions itself.

    Its own change is then seen by its next log call for sure, where the notification
    of it may arrive only after that call.
    """
    global _current
    if _current is not None:
        freshness = _current.freshness.watched_by_caller()
        _current = _current._replace(freshness=freshness)


def close() -> None:
    """Close the session's logging connection, if any."""
    global _current
    if _current is not None:
        _current.link.close()
        _current = None


def run(plpy: Plpy, statement: statements.Statement, params: link.Params) -> pq.abc.PGresult:
    """Run a fixed statement on the logging connection; its write commits at once.

    If the connection broke before the statement left, it is run once more on a new
    connection; if it broke after, the outcome is unknown and the error says so:
    retrying could log the same thing twice.
    """
    return _retried(lambda: current(plpy).run(statement, params, plpy))


def send(
    plpy: Plpy, statement: statements.Statement, params: link.Params, write: backlog.SentWrite
) -> None:
    """Send a write on the logging connection without waiting for its answer; it
    commits on its own as the server gets to it (see backlog.py)."""
    _retried(lambda: current(plpy).send(statement, params, plpy, write))


def _retried(attempt: Callable[[], _Outcome]) -> _Outcome:
    for number in (1, 2):
        try:
            return attempt()
        except _wire.ConnectionLost as lost:
            close()
            if lost.sent or lost.unanswered or number == 2:
                raise _lost(lost, lost.unanswered) from None
    raise AssertionError("unreachable")


def _lost(lost: _wire.ConnectionLost, unanswered: int) -> JobmonError:
    outcome = "Whether it was committed is unknown. " if lost.sent else ""
    if unanswered:
        outcome += (
            f"{unanswered} writes sent earlier without waiting were still unanswered:"
            " whether they were committed is unknown. "
        )
    return JobmonError(
        "lost the pg_jobmon logging connection during a log write",
        sqlstate=CONNECTION_FAILURE,
        detail=f"{outcome}{lost}",
    )
