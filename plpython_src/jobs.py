"""The five logging calls: validate on the caller's side, then one autonomous write."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from . import caller, connection, moved_jobs, session_end, settings, statements
from ._plpy import Plpy
from .backlog import SentWrite
from .errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    JobmonError,
    not_found,
    null_argument,
    permission_denied,
)

if TYPE_CHECKING:
    from collections.abc import Callable

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
    role = caller.current_user(plpy)
    params = (role, job_name, caller.backend_pid(), caller.postmaster_started(plpy))
    if not settings.waits_for_writes(plpy):
        job_id = caller.next_job_id(plpy, connection.schema(plpy))
        call = SentWrite(f"add_job({job_name!r})", role, _as_is)
        _send(plpy, statements.SENT_ADD_JOB, (*params, job_id, time.time()), call)
    else:
        job_id = _returned_id(connection.run(plpy, statements.ADD_JOB, _encode(params)))
    moved_jobs.added_job(job_id)
    return job_id


def add_step(plpy: Plpy, job_id: int | None, action: str | None, *, role: str | None = None) -> int:
    """Log a new step of a job; return its step_id.

    ``role`` is whom the write is made for: the caller's current_user unless given.
    """
    _require(job_id, "job id")
    _require(action, "step action")
    if role is None:
        role = caller.current_user(plpy)
        moved_jobs.writing_to_job(plpy, job_id, role)
        if not settings.waits_for_writes(plpy):
            return _send_add_step(plpy, job_id, action, role)
    params = _encode((job_id, action, role))
    try:
        result = connection.run(plpy, statements.ADD_STEP, params)
        if not _changed(result):
            _check_job(plpy, job_id, role)
            result = connection.run(plpy, statements.ADD_STEP_AS_MEMBER, params)
    except JobmonError as error:
        if error.sqlstate == FOREIGN_KEY_VIOLATION:
            raise not_found("job id", job_id) from None
        raise
    if not _changed(result):
        _check_job(plpy, job_id, role)  # the membership ended in between
    step_id = _returned_id(result)
    moved_jobs.added_step(step_id)
    return step_id


def update_step(
    plpy: Plpy,
    step_id: int | None,
    status: str | None,
    message: str | None,
    *,
    role: str | None = None,
) -> None:
    """Log the end of a step: its status, message and elapsed time."""
    _require(step_id, "step id")
    if role is None:
        role = caller.current_user(plpy)
        moved_jobs.writing_to_step(plpy, step_id, role)
        if not settings.waits_for_writes(plpy):
            _send_update_step(plpy, step_id, status, message, role)
            return
    params = _encode((step_id, status, message, role))
    if _changed(connection.run(plpy, statements.UPDATE_STEP, params)):
        return
    _check_step(plpy, step_id, role)
    if _changed(connection.run(plpy, statements.UPDATE_STEP_AS_MEMBER, params)):
        return
    _check_step(plpy, step_id, role)  # the membership ended in between
    raise JobmonError(f"step id {step_id} was not updated", sqlstate=INTERNAL_ERROR)


def _send_add_step(plpy: Plpy, job_id: object, action: str | None, role: str) -> int:
    """add_step without waiting: the step's id is taken here, and returned at once."""
    step_id = caller.next_step_id(plpy, connection.schema(plpy))
    moved_jobs.added_step(step_id)

    def explain(plpy: Plpy, error: JobmonError | None) -> JobmonError:
        if error is not None and error.sqlstate == FOREIGN_KEY_VIOLATION:
            return not_found("job id", job_id)
        missing = JobmonError(
            f"step {step_id} of job {job_id} was not added", sqlstate=INTERNAL_ERROR
        )
        return error or _refusal(lambda: _check_job(plpy, job_id, role), missing)

    call = SentWrite(f"add_step({job_id}, ...) for step {step_id}", role, explain)
    _send(plpy, statements.SENT_ADD_STEP, (job_id, action, role, step_id, time.time()), call)
    return step_id


def _send_update_step(
    plpy: Plpy, step_id: object, status: str | None, message: str | None, role: str
) -> None:
    """update_step without waiting."""

    def explain(plpy: Plpy, error: JobmonError | None) -> JobmonError:
        missing = JobmonError(f"step id {step_id} was not updated", sqlstate=INTERNAL_ERROR)
        return error or _refusal(lambda: _check_step(plpy, step_id, role), missing)

    call = SentWrite(f"update_step({step_id}, ...)", role, explain)
    params = (step_id, status, message, role, time.time())
    _send(plpy, statements.SENT_UPDATE_STEP, params, call)


def _send(
    plpy: Plpy, statement: statements.Statement, params: tuple[object, ...], call: SentWrite
) -> None:
    session_end.watch(plpy)
    connection.send(plpy, statement, _encode(params), call)


def _as_is(_plpy: Plpy, error: JobmonError | None) -> JobmonError:
    # add_job's write changes a row unless it fails.
    return error or JobmonError("the job was not added", sqlstate=INTERNAL_ERROR)


def _refusal(check: Callable[[], object], otherwise: JobmonError) -> JobmonError:
    """The error ``check`` raises (P0002, 42501), else ``otherwise``."""
    try:
        check()
    except JobmonError as error:
        return error
    return otherwise


def finish_job(
    plpy: Plpy, job_id: int | None, alert_code: int | None, *, role: str | None = None
) -> None:
    """End a job with the status text of ``alert_code`` read from job_status_text."""
    _require(job_id, "job id")
    _require(alert_code, "alert code")
    role = role or caller.current_user(plpy)
    params = _encode((job_id, alert_code, role))
    forms = (statements.FINISH_JOB, statements.FINISH_JOB_AS_MEMBER)
    finished = _write_to_job(plpy, forms, params, job_id, role, _changed)
    if not _changed(finished):
        raise _no_alert_code(alert_code)
    if finished.get_value(0, 1) == b"t":
        _apply_retention(plpy, finished.get_value(0, 0), finished.get_value(0, 2))


def _apply_retention(plpy: Plpy, job_name: bytes | None, owner: bytes | None) -> None:
    """Delete a bounded batch of the job name's expired runs (job_retention).

    Run only for a name that has a limit, after the job's end committed, in a transaction
    of its own: the job has ended whatever happens here, so a failure is a WARNING to the
    caller, never an error of the close.
    """
    try:
        connection.run(plpy, statements.APPLY_RETENTION, [job_name, owner])
    except JobmonError as error:
        name = "" if job_name is None else job_name.decode()
        plpy.warning(
            f'could not delete expired runs of job name "{name}"',
            detail=f"The job has ended; deleting expired runs failed: {error.message}",
            hint="Its expired runs stay until a later close_job or fail_job of that job"
            " name deletes them, or a call of _apply_retention() does.",
        )


def end_dead_jobs(plpy: Plpy) -> int:
    """End as failed every job whose session ended without ending it; return how many."""
    ended = connection.run(plpy, statements.END_DEAD_JOBS, [None]).get_value(0, 0)
    return int(ended or 0)


def cancel_running_job(plpy: Plpy, job_id: int) -> bool:
    """Signal the session running a job to cancel, and record that it was cancelled.

    cancel_job's last part, after its checks. The signal is sent with the caller's own
    rights, so PostgreSQL's rules decide who may cancel a job. Whoever may has ended the
    job, and the record of it is written for the job's owner, whoever the caller is.
    False if the job is no longer running or its session was gone before the signal.
    """
    schema = caller.extension_schema(plpy)
    job = plpy.execute(
        caller.plan(
            plpy,
            f"SELECT r.pid, r.owner FROM {schema}._running_jobs() AS r"
            " WHERE r.job_id OPERATOR(pg_catalog.=) $1",
            ("pg_catalog.int8",),
        ),
        [job_id],
    )
    if not job or job[0]["pid"] == caller.backend_pid():
        return False
    pid, owner = job[0]["pid"], str(job[0]["owner"])
    signal = caller.plan(
        plpy, "SELECT pg_catalog.pg_cancel_backend($1) AS value", ("pg_catalog.int4",)
    )
    if not plpy.execute(signal, [pid])[0]["value"]:
        return False
    # 1.5.0's record of it: the step that was running gets the critical text and this
    # message. A job with no open step gets a step of its own, so that no finished step
    # is overwritten.
    record = plpy.execute(
        caller.plan(
            plpy,
            f"SELECT (SELECT d.step_id FROM {schema}.job_detail AS d"
            " WHERE d.job_id OPERATOR(pg_catalog.=) $1 AND d.end_time IS NULL"
            f" AND NOT EXISTS (SELECT FROM {schema}.job_detail AS later"
            " WHERE later.job_id OPERATOR(pg_catalog.=) $1"
            " AND later.step_id OPERATOR(pg_catalog.>) d.step_id)) AS step_id,"
            f" {schema}._alert_text(3) AS status,"
            " pg_catalog.format('Manually cancelled via call to %s.cancel_job() by %s',"
            " $2, CURRENT_USER) AS message",
            ("pg_catalog.int8", "pg_catalog.text"),
        ),
        [job_id, schema],
    )[0]
    step_id = record["step_id"]
    if step_id is None:
        step_id = add_step(plpy, job_id, "CANCEL JOB", role=owner)
    update_step(plpy, step_id, record["status"], record["message"], role=owner)
    finish_job(plpy, job_id, 3, role=owner)
    return True


def _write_to_job(
    plpy: Plpy,
    forms: tuple[statements.Statement, statements.Statement],
    params: list[bytes | None],
    job_id: object,
    role: str,
    wrote: Callable[[pq.abc.PGresult], bool],
) -> pq.abc.PGresult:
    """A write to job ``job_id`` in its owner's form, then, if that wrote nothing and
    ``role`` is a member of the owner, in the members' form; the last result.

    P0002 or 42501 if the job is missing or not ``role``'s. A result that still wrote
    nothing means the job was there and open to ``role``: the alert code is missing.
    """
    result = connection.run(plpy, forms[0], params)
    if not wrote(result):
        owner = _check_job(plpy, job_id, role)
        if owner != role:
            result = connection.run(plpy, forms[1], params)
    return result


def _no_alert_code(alert_code: object) -> JobmonError:
    return JobmonError(
        f"alert code {alert_code} does not exist",
        sqlstate=INVALID_PARAMETER_VALUE,
        hint="The alert codes and their texts are the rows of job_status_text.",
    )


def _check_job(plpy: Plpy, job_id: object, role: str) -> str:
    """The owner of a job that ``role`` may write to; P0002 or 42501 otherwise.

    Asked only after a write to the job changed nothing.
    """
    access = connection.run(plpy, statements.JOB_ACCESS, _encode((job_id, role)))
    if not access.ntuples:
        raise not_found("job id", job_id)
    owner = _text(access, 0)
    if access.get_value(0, 1) != b"t":
        raise permission_denied(job_id, owner, role)
    return owner


def _check_step(plpy: Plpy, step_id: object, role: str) -> None:
    """Nothing if ``role`` may write to the job of step ``step_id``; P0002 or 42501."""
    access = connection.run(plpy, statements.STEP_ACCESS, _encode((step_id, role)))
    if not access.ntuples:
        raise not_found("step id", step_id)
    if access.get_value(0, 2) != b"t":
        raise permission_denied(int(_text(access, 0)), _text(access, 1), role)


def _text(result: pq.abc.PGresult, column: int) -> str:
    value = result.get_value(0, column)
    return "" if value is None else value.decode()


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


def _returned_a_row(result: pq.abc.PGresult) -> bool:
    return bool(result.ntuples)


def fail_step(
    plpy: Plpy,
    job_id: int | None,
    step_id: int | None,
    status: str | None,
    alert_code: int | None,
    message: str | None,
    error: tuple[str | None, str | None, str | None, str | None],
) -> int:
    """Log a caught error on a job; return the id of the step that holds it.

    The step is ``step_id`` while it is open, else a step of its own. ``status``, or else
    the alert text of ``alert_code``; ``error``: SQLSTATE, detail, hint, context, where
    an empty text, as PL/pgSQL gives for an absent field, is stored as NULL.
    """
    _require(job_id, "job id")
    if status is None:
        _require(alert_code, "alert code")
    role = caller.current_user(plpy)
    fields = tuple(value or None for value in error)
    params = _encode((job_id, step_id, status, alert_code, message, *fields, role))
    forms = (statements.FAIL_STEP, statements.FAIL_STEP_AS_MEMBER)
    try:
        result = _write_to_job(plpy, forms, params, job_id, role, _returned_a_row)
    except JobmonError as error_of_write:
        if error_of_write.sqlstate == FOREIGN_KEY_VIOLATION:
            raise not_found("job id", job_id) from None
        raise
    if not _returned_a_row(result):
        raise _no_alert_code(alert_code)
    return _returned_id(result)
