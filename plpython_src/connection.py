"""The session's logging connection: opened on first use, replaced when it must be.

One per calling backend. It lives as long as the loaded package, which PL/Python's GD
holds for the life of the backend. Each log call checks it first, without waiting:
a connection whose backend is gone, or whose configuration row changed, is replaced.
"""

from __future__ import annotations

from psycopg import pq

from . import _wire, link, opening, statements
from ._plpy import Plpy
from .errors import CONNECTION_FAILURE, JobmonError

_current: opening.Opened | None = None


def current(plpy: Plpy) -> link.LoggingConnection:
    """The session's usable logging connection, opened or replaced as needed."""
    global _current
    if _current is not None:
        cached = _current.link
        # One idle for nearly pg_jobmon.idle_timeout is replaced before anything is sent
        # on it, rather than raced against its server's closing it.
        if (
            cached.is_open()
            and not cached.near_idle_timeout()
            and _current.freshness.holds(plpy, cached)
        ):
            return cached
        close()
    _current = opening.open_logging_connection(plpy)
    return _current.link


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
    for attempt in (1, 2):
        try:
            return current(plpy).run(statement, params, plpy)
        except _wire.ConnectionLost as lost:
            close()
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
