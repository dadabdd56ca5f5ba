"""What is told of writes sent without waiting when they fail or are given up."""

from __future__ import annotations

from typing import Any

import pytest

from plpython_src import link
from plpython_src.backlog import Failure, SentWrite
from plpython_src.errors import JobmonError


def as_is(_plpy: Any, error: JobmonError | None) -> JobmonError:
    return error or JobmonError("not added", sqlstate="XX000")


ADD_JOB = SentWrite("add_job('SECRET name')", "runner", as_is)
ADD_STEP = SentWrite("add_step(7, ...) for step 9", "runner", as_is)


class Output:
    """PL/Python's plpy.warning, which fails once ``room`` WARNINGs went out."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.warnings: list[str] = []

    def warning(self, message: str, detail: str | None = None) -> None:
        if len(self.warnings) == self.room:
            raise RuntimeError("no WARNING can go out")
        self.warnings.append(message)


def test_a_write_is_named_by_its_call_alone() -> None:
    assert (ADD_JOB.function, ADD_STEP.function) == ("add_job", "add_step")


def test_a_failure_tells_the_servers_message_or_why_no_row_changed() -> None:
    refused = JobmonError("permission denied for job 7", sqlstate="42501")
    assert Failure(ADD_STEP, refused).reason == "permission denied for job 7"
    assert Failure(ADD_STEP, None).reason.startswith("it changed no row")


@pytest.mark.parametrize(("room", "left"), [(3, (0, 0)), (1, (0, 2)), (0, (1, 2))])
def test_what_no_warning_reports_is_kept_for_the_sessions_end(
    room: int, left: tuple[int, int]
) -> None:
    output = Output(room)
    failure = Failure(ADD_JOB, JobmonError("refused", sqlstate="23514"))
    link._warn_of([failure], [ADD_STEP, ADD_STEP], output)  # type: ignore[arg-type]
    failures, given_up = link.take_unreported()
    assert (len(failures), given_up) == left
    assert len(output.warnings) == room
    assert link.take_unreported() == ([], 0)  # taken once
