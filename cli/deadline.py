"""A bound on how long the command waits for the server, whatever the server does.

statement_timeout ends a query that runs too long, but only a server that still answers
can send that error: a frozen server or network answers nothing, and libpq would wait
for ever. So the database work runs in a thread that the command stops waiting for.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The work did not end in time; its thread is left behind, waiting on its socket."""


class Deadline(Generic[T]):
    """Runs work with a time limit, and never more than one stuck piece of it at once."""

    def __init__(self) -> None:
        self._stuck: threading.Thread | None = None

    def run(self, seconds: float, work: Callable[[], T]) -> T:
        """The result of ``work()``, or what it raised; DeadlineExceeded after
        ``seconds``, or at once while an earlier run has still not returned."""
        if self._stuck is not None and self._stuck.is_alive():
            raise DeadlineExceeded("the server has not answered an earlier request yet")
        outcome: list[T] = []
        failure: list[BaseException] = []

        def target() -> None:
            try:
                outcome.append(work())
            except BaseException as raised:  # handed over to the waiting thread
                failure.append(raised)

        thread = threading.Thread(target=target, name="pg_jobmon database", daemon=True)
        thread.start()
        thread.join(seconds)
        if thread.is_alive():
            self._stuck = thread
            raise DeadlineExceeded(f"no answer from the server within {seconds:g} seconds")
        if failure:
            raise failure[0]
        return outcome[0]
