"""What a log write does while it waits for the logging connection to answer.

At every poll it lets PostgreSQL act on the caller's pending interrupts. Where the
logging backend runs on the caller's own server, it also looks at the locks that
backend waits for: a lock that the caller's own transaction holds (itself, or through
sessions that wait for it) cannot be released while the caller waits for the write, so
that write ends at once; a lock held by anyone else is waited for up to
pg_jobmon.lock_timeout. A logging server elsewhere cannot be looked into, so there the
limit bounds the whole wait for its answer. The checks run only while a write waits: a
write that is answered within one poll interval never pays for them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from . import caller, settings
from ._plpy import Plpy
from ._wire import POLL_SECONDS
from .errors import CONNECTION_FAILURE, DEADLOCK_DETECTED, LOCK_NOT_AVAILABLE, JobmonError

if TYPE_CHECKING:
    from .link import LoggingConnection

# Every session the logging backend waits for, directly or down a chain of waits;
# UNION ends the recursion if the chain loops. pg_sleep(0) acts on interrupts.
_WAIT_STATE = """
WITH RECURSIVE blockers (pid) AS (
    SELECT b.pid FROM pg_catalog.unnest(pg_catalog.pg_blocking_pids($1)) AS b (pid)
    UNION
    SELECT b.pid
    FROM blockers AS w
    CROSS JOIN LATERAL pg_catalog.unnest(pg_catalog.pg_blocking_pids(w.pid)) AS b (pid)
)
SELECT
    pg_catalog.pg_sleep(0) AS interrupts_checked,
    pg_catalog.pg_blocking_pids($1) AS direct,
    EXISTS (
        SELECT FROM blockers WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
    ) AS self_locked
"""


class LockWatch:
    """Called at every poll of one exchange on the logging connection ``link``."""

    def __init__(self, plpy: Plpy, link: LoggingConnection) -> None:
        # Made for every log call: the clock and the limit are read only once a write
        # has waited.
        self._plpy = plpy
        self._link = link
        self._started: float | None = None
        self._limit = 0.0

    def __call__(self) -> None:
        if self._started is None:
            self._started = time.monotonic() - POLL_SECONDS
            self._limit = settings.lock_timeout(self._plpy)
        blockers = self._blockers() if self._link.same_server else self._interrupts_only()
        if self._limit and time.monotonic() - self._started >= self._limit:
            raise self._timed_out(blockers)

    def _blockers(self) -> list[int]:
        plan = caller.plan(self._plpy, _WAIT_STATE, ("pg_catalog.int4",))
        state = self._plpy.execute(plan, [self._link.backend_pid])[0]
        blockers: list[int] = state["direct"]
        if blockers and state["self_locked"]:
            raise self_lock(self._link.backend_pid, blockers, caller.backend_pid())
        return blockers

    def _interrupts_only(self) -> list[int]:
        caller.interrupt_checker(self._plpy)()
        return []

    def _timed_out(self, blockers: list[int]) -> JobmonError:
        if blockers:
            return lock_timeout(self._link.backend_pid, blockers, self._limit)
        if self._link.same_server:
            return no_answer(self._link.target, self._limit)
        return remote_timeout(self._link.target, self._limit)


def self_lock(logger_pid: int, blockers: list[int], caller_pid: int) -> JobmonError:
    """The error for a write that waits for the caller's own transaction."""
    if caller_pid in blockers:
        how = "this session"
    else:
        how = f"process {_pids(blockers)}, which in turn waits for this session"
    return JobmonError(
        "pg_jobmon log write is blocked by the caller's own transaction",
        sqlstate=DEADLOCK_DETECTED,
        detail=(
            f"The logging connection (process {logger_pid}) waits for a lock held by {how}"
            f" (process {caller_pid}), which cannot release it while it waits for the write."
        ),
        hint=(
            "Do not lock rows or tables of pg_jobmon (SELECT ... FOR UPDATE, UPDATE,"
            " DELETE, LOCK TABLE) in a transaction that goes on to log."
        ),
    )


_LIMIT_HINT = f"Raise {settings.LOCK_TIMEOUT}, or set it to 0 to wait without a limit."


def lock_timeout(logger_pid: int, blockers: list[int], limit: float) -> JobmonError:
    """The error for a write that waited for another session's lock too long."""
    return JobmonError(
        f"pg_jobmon log write waited longer than {settings.LOCK_TIMEOUT} ({limit:g} s) for a lock",
        sqlstate=LOCK_NOT_AVAILABLE,
        detail=(
            f"The logging connection (process {logger_pid}) waits for a lock held by"
            f" process {_pids(blockers)}."
        ),
        hint=_LIMIT_HINT,
    )


def remote_timeout(target: str, limit: float) -> JobmonError:
    """The error for a write to another server that got no answer within the limit."""
    return JobmonError(
        f"pg_jobmon log write got no answer within {settings.LOCK_TIMEOUT} ({limit:g} s)",
        sqlstate=LOCK_NOT_AVAILABLE,
        detail=(
            f"The logging server ({target}) may wait for a lock there, or not answer at all."
            " The write was given up on: whether it was committed is unknown."
        ),
        hint=_LIMIT_HINT,
    )


def no_answer(target: str, limit: float) -> JobmonError:
    """The error for a write that the logging connection, waiting for no lock, left unanswered."""
    return JobmonError(
        f"the pg_jobmon logging connection did not answer within {limit:g} s",
        sqlstate=CONNECTION_FAILURE,
        detail=(
            f"Its backend waits for no lock on this server, yet no answer came through the"
            f" connection ({target}): it was dropped, and the next log call opens a new one."
            " Whether the write was committed is unknown."
        ),
        hint=f"The limit is {settings.LOCK_TIMEOUT}. Check the network path to the server.",
    )


def _pids(pids: list[int]) -> str:
    return ", ".join(str(pid) for pid in pids)
