"""The end of a session that sent writes without waiting (pg_jobmon.wait_for_writes off).

Its last answers may still be on their way when the session ends. So the first write
sent without waiting has the backend call ``_at_exit`` as it exits, before it lets go
of its transaction: on a normal end it waits (at most pg_jobmon.lock_timeout) for every
answer. A failure that no call raised, or a write left unanswered, goes to the server
log as a WARNING; a failure also goes into the table unreported_writes, which the view
logging_sessions shows, when the connection can still take it. A session ended by an
error (FATAL, such as pg_terminate_backend()) does not wait: its unanswered writes are
only counted.

Nothing here may raise into the backend, nor use SPI: no transaction is left to use.
"""

from __future__ import annotations

import contextlib
import functools
import os

from . import backend, connection, settings, statements
from ._plpy import Plpy
from .backlog import Failure

# Keeps the callback alive for the life of the backend: the backend holds only a pointer.
_callback: object | None = None
_wait_seconds = settings.LOCK_TIMEOUT_DEFAULT_SECONDS


def watch(plpy: Plpy) -> None:
    """Called by each write sent without waiting: the first one arranges the exit."""
    global _callback, _wait_seconds
    if _callback is not None or backend.state is None:
        return
    limit = settings.lock_timeout(plpy)
    _wait_seconds = limit if limit else settings.LOCK_TIMEOUT_DEFAULT_SECONDS
    callback = backend.ExitCallback(functools.partial(_at_exit, plpy))
    backend.state.before_exit(callback)
    _callback = callback


def before_close(plpy: Plpy) -> None:
    """As at a normal end, for a connection let go of before the session ends (another
    version of the package took over)."""
    with contextlib.suppress(Exception):
        _settle(plpy, normal_end=True)


def _at_exit(plpy: Plpy, code: int, _argument: int) -> None:
    # The backend is exiting, from C: nothing may escape into it.
    with contextlib.suppress(BaseException):
        _settle(plpy, normal_end=code == 0)


def _settle(plpy: Plpy, *, normal_end: bool) -> None:
    link = connection.opened()
    if link is None or (not link.unanswered and not link.has_failures):
        return
    failures, unanswered = link.settle_at_exit(_wait_seconds if normal_end else 0.0)
    if not failures and not unanswered:
        return
    first = _described(failures[0]) if failures else None
    plpy.warning(
        "pg_jobmon: the session ended with log writes that it did not report",
        detail=f"Of the writes sent without waiting, {len(failures)} failed without being"
        f" raised and {unanswered} got no answer."
        + (f" The first failure: {first}" if first else ""),
    )
    if normal_end and failures and not unanswered:
        params = [
            str(os.getpid()).encode(),
            failures[0].write.role.encode(),
            str(len(failures)).encode(),
            None if first is None else first.encode(),
        ]
        query = statements.RECORD_UNREPORTED.format(schema=link.schema)
        link.run_at_exit(query, params, _wait_seconds)


def _described(failure: Failure) -> str:
    # No SPI to look up why a write changed no row: say what it could be.
    why = (
        failure.error.message
        if failure.error is not None
        else "it changed no row: its job or step was missing, or not the caller's"
    )
    return f"{failure.write.call}: {why}"
