"""Errors that the logging server reports, passed on to the caller in its own words.

The caller cannot see the logging session, so where the cause lies with that session
(its role, the server it reached) the error says so.
"""

from __future__ import annotations

from psycopg import pq

from .errors import INSUFFICIENT_PRIVILEGE, INTERNAL_ERROR, READ_ONLY_SQL_TRANSACTION, JobmonError

STANDBY_HINT = (
    "The logging connection reached a server in recovery, such as a hot standby."
    " Name the primary in dblink_mapping_jobmon, or list every server there with"
    " target_session_attrs 'read-write'."
)


def server_error(result: pq.abc.PGresult, logging_role: str | None) -> JobmonError:
    """The error of ``result``, with its SQLSTATE, for a caller of pg_jobmon."""

    def field(code: pq.DiagnosticField) -> str | None:
        value = result.error_field(code)
        return None if value is None else value.decode("utf-8", "replace")

    sqlstate = field(pq.DiagnosticField.SQLSTATE) or INTERNAL_ERROR
    detail = field(pq.DiagnosticField.MESSAGE_DETAIL)
    hint = field(pq.DiagnosticField.MESSAGE_HINT)
    if sqlstate == READ_ONLY_SQL_TRANSACTION:
        hint = hint or STANDBY_HINT
    elif sqlstate == INSUFFICIENT_PRIVILEGE:
        detail, hint = _logging_role_lacks(logging_role, detail)
    return JobmonError(
        field(pq.DiagnosticField.MESSAGE_PRIMARY) or "unknown error",
        sqlstate=sqlstate,
        detail=detail,
        hint=hint,
    )


def _logging_role_lacks(role: str | None, detail: str | None) -> tuple[str, str]:
    # The caller's own rights were checked before the write left: this one is the
    # logging session's, which only whoever manages pg_jobmon can fix.
    who = f'role "{role}"' if role else "its role"
    lacks = f"The pg_jobmon logging connection logs in as {who}, which lacks this privilege."
    return (
        f"{lacks} {detail}" if detail else lacks,
        "Grant the logging role what it needs to write the log, as the reference's"
        ' "A logging role of its own" lists: for example GRANT SELECT, INSERT, UPDATE ON'
        " <schema>.job_log, <schema>.job_detail TO that role.",
    )
