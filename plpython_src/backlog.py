"""Writes sent without waiting for their answer (pg_jobmon.wait_for_writes = off).

Such writes go down the logging connection in libpq's pipeline mode, each followed by
a Sync of its own: the server runs and commits each in a transaction of its own, in the
order sent, and an error ends that write only. Their answers are read as they arrive,
never waited for, at the session's next log calls; a failure found there is raised by
that call. A call that waits (close_job, fail_job, any call with the setting on) first
waits for every answer.

At most UNANSWERED_LIMIT writes are left unanswered when a call returns: a call that
finds as many waits for the oldest first. So a failure is raised by the next call if
its answer has come by then, and at the latest by the call after that; a crash or a
terminated session loses at most that many writes; and a tight loop of calls runs at
the pace of the logging server's commits, which always has the next write queued.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, NamedTuple

from psycopg import pq

from ._plpy import Plpy
from .errors import INTERNAL_ERROR, JobmonError

# Two, so that a job whose calls come in pairs with work between the pairs (add_step,
# work, update_step, add_step at once, ...) never waits for an answer.
UNANSWERED_LIMIT = 2

_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED

# What a failed write becomes for the caller: given the server's error, or None when
# the write changed no row (refused, or a missing job or step), which it looks up.
Explain = Callable[[Plpy, "JobmonError | None"], JobmonError]


class SentWrite(NamedTuple):
    """A write sent without waiting: what it was, for messages, and how to explain its
    failure. ``role``: whom it was written for."""

    call: str
    role: str
    explain: Explain

    @property
    def function(self) -> str:
        """Which call it was (add_job, add_step, update_step), without its arguments."""
        return self.call.partition("(")[0]


class Failure(NamedTuple):
    write: SentWrite
    error: JobmonError | None

    @property
    def reason(self) -> str:
        """Why it failed, without looking anything up: the server's message, or what a
        write that changed no row may have met."""
        if self.error is not None:
            return self.error.message
        return "it changed no row: its job or step was missing, or not the caller's"


class Backlog:
    """The writes sent and not yet answered, oldest first, and the failures found."""

    def __init__(self, error_of: Callable[[pq.abc.PGresult], JobmonError]) -> None:
        self._error_of = error_of
        self._sent: deque[SentWrite] = deque()
        self._first_result: pq.abc.PGresult | None = None
        self.failures: list[Failure] = []

    def __len__(self) -> int:
        return len(self._sent)

    def add(self, write: SentWrite) -> None:
        self._sent.append(write)

    def take_answers(self, pgconn: pq.abc.PGconn) -> None:
        """Take in every answer that has fully arrived (read by libpq already): never waits.

        A write's answer is its statement's result, an end of results, and the result of
        its Sync, which ends the write.
        """
        ends_in_a_row = 0
        while self._sent and not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                ends_in_a_row += 1
                if ends_in_a_row > 1:  # nothing more to take: libpq waits for input
                    return
                continue
            ends_in_a_row = 0
            if result.status == _SYNC:
                self._conclude(self._sent.popleft(), self._first_result)
                self._first_result = None
            elif self._first_result is None:
                self._first_result = result

    def take_failures(self) -> list[Failure]:
        failures, self.failures = self.failures, []
        return failures

    def forget(self) -> list[SentWrite]:
        """Drop the writes whose answer will never come (the connection is gone): which."""
        unanswered = list(self._sent)
        self._sent.clear()
        self._first_result = None
        return unanswered

    def _conclude(self, write: SentWrite, result: pq.abc.PGresult | None) -> None:
        if result is None or result.status == _ABORTED:
            error = JobmonError("the log write got no result", sqlstate=INTERNAL_ERROR)
            self.failures.append(Failure(write, error))
        elif result.status == _FATAL_ERROR:
            self.failures.append(Failure(write, self._error_of(result)))
        elif not result.command_tuples:
            self.failures.append(Failure(write, None))
