"""The five logging calls: validate on the caller's side, then one autonomous write."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import caller, connection, statements
from ._plpy import Plpy
from .errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    JobmonError,
    not_found,
    null_argument,
)

if TYPE_CHECKING:
    from psycopg import pq

# job_status_text's code for a job that ended well.
OK_CODE = 1
FOREIGN_KEY_VIOLATION = "23503"


def add_job(plpy: Plpy, job_name: str | None) -> int:
    """Log a new running job for the caller; return its job_id."""
    if job_name is None:
        raise null_argument("job name")
    if not job_name.strip():
        raise JobmonError("job name must not be empty", sqlstate=INVALID_PARAMETER_VALUE)
    params = (caller.current_user(plpy), job_name, caller.backend_pid())
    return _returned_id(connection.run(plpy, statements.ADD_JOB, _encode(params)))


def add_step(plpy: Plpy, job_id: int | None, action: str | None) -> int:
    """Log a new step of a job; return its step_id."""
    _require(job_id, "job id")
    _require(action, "step action")
    try:
        result = connection.run(plpy, statements.ADD_STEP, _encode((job_id, action)))
    except JobmonError as error:
        if error.sqlstate == FOREIGN_KEY_VIOLATION:
            raise not_found("job id", job_id) from None
        raise
    return _returned_id(result)


def update_step(plpy: Plpy, step_id: int | None, status: str | None, message: str | None) -> None:
    """Log the end of a step: its status, message and elapsed time."""
    _require(step_id, "step id")
    params = _encode((step_id, status, message))
    if not _changed(connection.run(plpy, statements.UPDATE_STEP, params)):
        raise not_found("step id", step_id)


def finish_job(plpy: Plpy, job_id: int | None, alert_code: int | None) -> None:
    """End a job with the status text of ``alert_code`` read from job_status_text."""
    _require(job_id, "job id")
    _require(alert_code, "alert code")
    params = _encode((job_id, alert_code))
    if _changed(connection.run(plpy, statements.FINISH_JOB, params)):
        return
    missing = connection.run(plpy, statements.FINISH_JOB_MISSING, params)
    if missing.get_value(0, 0) == b"t":
        raise not_found("job id", job_id)
    raise JobmonError(
        f"alert code {alert_code} does not exist",
        sqlstate=INVALID_PARAMETER_VALUE,
        hint="The alert codes and their texts are the rows of job_status_text.",
    )


def _require(value: object, what: str) -> None:
    if value is None:
        raise null_argument(what)


def _encode(values: tuple[object, ...]) -> list[bytes | None]:
    """Parameters in libpq's text format."""
    return [None if value is None else str(value).encode() for value in values]


def _returned_id(result: pq.abc.PGresult) -> int:
    value = result.get_value(0, 0)
    if value is None:
        raise JobmonError("the log write returned no id", sqlstate=INTERNAL_ERROR)
    return int(value)


def _changed(result: pq.abc.PGresult) -> bool:
    return bool(result.command_tuples)
