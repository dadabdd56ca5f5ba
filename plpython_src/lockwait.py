"""What a log write does while it waits for the logging connection to answer.

At every poll it lets PostgreSQL act on the caller's pending interrupts, and looks at
whether the logging backend waits for a lock. A lock that the caller's own transaction
holds (itself, or through sessions that wait for it) cannot be released while the
caller waits for the write, so that write ends at once. A lock held by anyone else is
waited for, up to pg_jobmon.lock_timeout. The checks run only while a write waits:
a write that is answered within one poll interval never pays for them.
"""

from __future__ import annotations

import time

from . import caller, settings
from ._plpy import Plpy
from ._wire import POLL_SECONDS
from .errors import JobmonError

DEADLOCK_DETECTED = "40P01"
LOCK_NOT_AVAILABLE = "55P03"

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
    """Called at every poll of one exchange with the logging backend ``logger_pid``."""

    def __init__(self, plpy: Plpy, logger_pid: int) -> None:
        # Made for every log call: the clock is read only once a write has waited.
        self._plpy = plpy
        self._logger_pid = logger_pid
        self._started: float | None = None
        self._limit: float | None = None

    def __call__(self) -> None:
        if self._started is None:
            self._started = time.monotonic() - POLL_SECONDS
        plan = caller.plan(self._plpy, _WAIT_STATE, ("pg_catalog.int4",))
        state = self._plpy.execute(plan, [self._logger_pid])[0]
        blockers: list[int] = state["direct"]
        if not blockers:
            return
        if state["self_locked"]:
            raise self_lock(self._logger_pid, blockers, caller.backend_pid())
        if self._limit is None:
            self._limit = settings.lock_timeout(self._plpy)
        if self._limit and time.monotonic() - self._started >= self._limit:
            raise lock_timeout(self._logger_pid, blockers, self._limit)


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


def lock_timeout(logger_pid: int, blockers: list[int], limit: float) -> JobmonError:
    """The error for a write that waited for another session's lock too long."""
    return JobmonError(
        f"pg_jobmon log write waited longer than {settings.LOCK_TIMEOUT} ({limit:g} s) for a lock",
        sqlstate=LOCK_NOT_AVAILABLE,
        detail=(
            f"The logging connection (process {logger_pid}) waits for a lock held by"
            f" process {_pids(blockers)}."
        ),
        hint=f"Raise {settings.LOCK_TIMEOUT}, or set it to 0 to wait without a limit.",
    )


def _pids(pids: list[int]) -> str:
    return ", ".join(str(pid) for pid in pids)
