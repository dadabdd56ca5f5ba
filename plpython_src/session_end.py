"""The end of a session that sent writes without waiting (pg_jobmon.wait_for_writes off).

Its last answers may still be on their way when the session ends. So the first write
sent without waiting has the backend call ``_at_exit`` as it exits. With writes still
unanswered, that first ends the session's transaction and lets go of its locks, which
those writes may wait for (the backend would do so next anyway). On a normal end it then
waits for every answer: at most pg_jobmon.lock_timeout, and never more than
EXIT_WAIT_SECONDS; a terminate (pg_terminate_backend(), a fast shutdown) ends the wait
at the next poll. A failure that no call raised, or a write left unanswered, goes to the
server log as a WARNING; the failures also go into the table unreported_writes, which
the view logging_sessions shows, when the connection can still take them (within
_RECORD_SECONDS at least). A session ended by an error (FATAL, such as
pg_terminate_backend()) waits for no answer: its unanswered writes are only counted.

Nothing here may raise into the backend, nor use SPI: no transaction is left to use.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time

from . import backend, connection, link, settings, statements
from ._plpy import Plpy
from .backlog import Failure

# The longest a session's end waits for the answers to its writes, whatever
# pg_jobmon.lock_timeout says (doc/pg_jobmon.md, pg_jobmon.wait_for_writes): the
# backend holds its connection slot, and holds up a smart shutdown, until it ends.
EXIT_WAIT_SECONDS = 5.0
# What recording the failures gets at least, after a wait that took most of the cap.
_RECORD_SECONDS = 0.5

# Keeps the callback alive for the life of the backend: the backend holds only a pointer.
_callback: object | None = None
_wait_seconds = EXIT_WAIT_SECONDS


def watch(plpy: Plpy) -> None:
    """Called by each write sent without waiting: the first one arranges the exit."""
    global _callback, _wait_seconds
    if _callback is not None or backend.state is None:
        return
    limit = settings.lock_timeout(plpy)
    _wait_seconds = min(limit, EXIT_WAIT_SECONDS) if limit else EXIT_WAIT_SECONDS
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
        opened = connection.opened()
        if opened is not None and opened.unanswered and backend.state is not None:
            backend.state.abort_transaction()
        _settle(plpy, normal_end=code == 0)


def _settle(plpy: Plpy, *, normal_end: bool) -> None:
    opened = connection.opened()
    failures, unanswered = link.take_unreported()
    deadline, given_up = time.monotonic() + (_wait_seconds if normal_end else 0.0), 0
    if opened is not None and (opened.unanswered or opened.has_failures or failures):
        failed, given_up = opened.settle_at_exit(deadline)
        failures, unanswered = failures + failed, unanswered + given_up
    if not failures and not unanswered:
        return
    first = f"{failures[0].write.call}: {failures[0].reason}" if failures else None
    plpy.warning(
        "pg_jobmon: the session ended with log writes that it did not report",
        detail=f"Of the writes sent without waiting, {len(failures)} failed without being"
        f" raised and {unanswered} got no answer."
        + (f" The first failure: {first}" if first else ""),
    )
    # Behind a write given up on, the record would wait for it: the WARNING stays alone.
    if failures and opened is not None and not given_up:
        _record(opened, failures, max(deadline, time.monotonic() + _RECORD_SECONDS))


def _record(opened: link.LoggingConnection, failures: list[Failure], deadline: float) -> None:
    """A row of unreported_writes: the first failure's call, SQLSTATE and server's
    message, never the call's arguments (the monitor role reads the rows)."""
    first = failures[0]
    sqlstate = None if first.error is None else first.error.sqlstate
    values = (
        str(os.getpid()),
        first.write.role,
        str(len(failures)),
        first.write.function,
        sqlstate,
        first.reason[: statements.UNREPORTED_MESSAGE_LIMIT],
    )
    params = [None if value is None else value.encode() for value in values]
    query = statements.RECORD_UNREPORTED.format(schema=opened.schema)
    opened.run_at_exit(query, params, deadline)
