"""Errors that pg_jobmon reports to its callers, and the SQLSTATEs it uses."""

from __future__ import annotations

NULL_VALUE_NOT_ALLOWED = "22004"
DEADLOCK_DETECTED = "40P01"
LOCK_NOT_AVAILABLE = "55P03"
INSUFFICIENT_PRIVILEGE = "42501"
INVALID_PARAMETER_VALUE = "22023"
READ_ONLY_SQL_TRANSACTION = "25006"
NO_DATA_FOUND = "P0002"
UNABLE_TO_CONNECT = "08001"
TOO_MANY_CONNECTIONS = "53300"
CONNECTION_FAILURE = "08006"
INTERNAL_ERROR = "XX000"


class JobmonError(Exception):
    """An error for the caller, worded per PostgreSQL's error style guide.

    The SQL entry points turn it into ``plpy.error`` so that the caller gets an
    ordinary ERROR with this message, detail, hint and SQLSTATE.
    """

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint


def null_argument(what: str) -> JobmonError:
    """The error for a NULL where a value is required."""
    return JobmonError(f"{what} must not be null", sqlstate=NULL_VALUE_NOT_ALLOWED)


def not_found(what: str, key: object) -> JobmonError:
    """The error for an id that names no row of the log."""
    return JobmonError(f"{what} {key} does not exist", sqlstate=NO_DATA_FOUND)


def permission_denied(job_id: object, owner: str, role: str) -> JobmonError:
    """The error for a write to a job by a role that is not a member of its owner."""
    return JobmonError(
        f"permission denied for job {job_id}",
        sqlstate=INSUFFICIENT_PRIVILEGE,
        detail=f'Job {job_id} belongs to role "{owner}"; role "{role}" is not a member of it.',
        hint=f'A role writes only to jobs of roles it is a member of: GRANT "{owner}" TO "{role}",'
        f' or act as an admin role that "{owner}" is granted to.',
    )
