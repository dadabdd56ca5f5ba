"""Jobs logged from more than one backend: how they escape the dead-session rule.

A job's pid is the backend that ran add_job; once that backend has ended and the job has
not, the job is ended as dead (_end_dead_jobs()). A transaction-mode pooler runs each of
a client's transactions on any of its server backends, so a job may go on being logged
from another backend after the one that added it was retired. So the first write of a
backend to a job it did not add, or to a step of one, marks the job remote_session
(statements.MARK_JOB_MOVED, MARK_STEP_MOVED), which no dead-session rule judges.

The ids this backend added or already checked are remembered, up to a few hundred of
each (then forgotten all at once, the id at hand kept): the usual write, to a job of its
own, costs a lookup here and no statement. What is remembered cannot go stale: a job's
pid is never changed after add_job, this backend's pid is its own for its life, and the
mark is never taken off. An id forgotten costs one statement more, which changes
nothing.
"""

from __future__ import annotations

from . import caller, connection, statements
from ._plpy import Plpy

# How many job ids, and step ids, are remembered.
REMEMBERED = 256

_jobs: set[object] = set()
_steps: set[object] = set()


def added_job(job_id: object) -> None:
    """This backend added job ``job_id``: its pid is the job's."""
    _remember(_jobs, job_id)


def added_step(step_id: object) -> None:
    """This backend added step ``step_id``, to a job already checked."""
    _remember(_steps, step_id)


def writing_to_job(plpy: Plpy, job_id: object, role: str) -> None:
    """Before a write of ``role`` to job ``job_id``: mark it if another backend added it."""
    if job_id not in _jobs:
        connection.run(plpy, statements.MARK_JOB_MOVED, _params(job_id, role))
        _remember(_jobs, job_id)


def writing_to_step(plpy: Plpy, step_id: object, role: str) -> None:
    """Before a write of ``role`` to step ``step_id``: mark its job if another backend
    added it."""
    if step_id not in _steps:
        connection.run(plpy, statements.MARK_STEP_MOVED, _params(step_id, role))
        _remember(_steps, step_id)


def _params(row_id: object, role: str) -> list[bytes]:
    return [str(row_id).encode(), str(caller.backend_pid()).encode(), role.encode()]


def _remember(ids: set[object], row_id: object) -> None:
    if len(ids) >= REMEMBERED:
        ids.clear()
    ids.add(row_id)
