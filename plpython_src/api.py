"""The entry points of pg_jobmon's Python-backed SQL functions, one per function.

Each states its SQL signature; the build writes the plpython3u wrapper that finds this
module in GD and calls the entry point with ``plpy`` and the SQL arguments.
"""

from __future__ import annotations

from . import caller, connection, jobs, link, names, opening, session_end
from ._plpy import Plpy
from ._sqlfunction import sql_function


@sql_function("add_job(p_job_name text) RETURNS bigint")
def add_job(plpy: Plpy, p_job_name: str | None) -> int:
    return jobs.add_job(plpy, p_job_name)


@sql_function("add_step(p_job_id bigint, p_action text) RETURNS bigint")
def add_step(plpy: Plpy, p_job_id: int | None, p_action: str | None) -> int:
    return jobs.add_step(plpy, p_job_id, p_action)


@sql_function("update_step(p_step_id bigint, p_status text, p_message text) RETURNS void")
def update_step(
    plpy: Plpy, p_step_id: int | None, p_status: str | None, p_message: str | None
) -> None:
    jobs.update_step(plpy, p_step_id, p_status, p_message)


@sql_function("close_job(p_job_id bigint) RETURNS void")
def close_job(plpy: Plpy, p_job_id: int | None) -> None:
    jobs.finish_job(plpy, p_job_id, jobs.OK_CODE)


@sql_function("fail_job(p_job_id bigint, p_fail_level integer DEFAULT 3) RETURNS void")
def fail_job(plpy: Plpy, p_job_id: int | None, p_fail_level: int | None) -> None:
    jobs.finish_job(plpy, p_job_id, p_fail_level)


@sql_function(
    "_fail_step(p_job_id bigint, p_step_id bigint, p_status text, p_alert_code integer,"
    " p_message text, p_sqlstate text, p_detail text, p_hint text, p_context text)"
    " RETURNS bigint"
)
def _fail_step(
    plpy: Plpy,
    p_job_id: int | None,
    p_step_id: int | None,
    p_status: str | None,
    p_alert_code: int | None,
    p_message: str | None,
    p_sqlstate: str | None,
    p_detail: str | None,
    p_hint: str | None,
    p_context: str | None,
) -> int:
    # sql_step's and fail_job_with_error's record of a caught error (see jobs.fail_step).
    error = (p_sqlstate, p_detail, p_hint, p_context)
    return jobs.fail_step(plpy, p_job_id, p_step_id, p_status, p_alert_code, p_message, error)


@sql_function("_cancel_running_job(p_job_id bigint) RETURNS boolean")
def _cancel_running_job(plpy: Plpy, p_job_id: int) -> bool:
    # Not SECURITY DEFINER: the signal is sent with the caller's rights.
    return jobs.cancel_running_job(plpy, p_job_id)


@sql_function("_end_dead_jobs_autonomously() RETURNS bigint")
def _end_dead_jobs_autonomously(plpy: Plpy) -> int:
    # job_log_clear's first step: on the logging connection, so that it commits whatever
    # the caller's transaction does, with the logging role's rights.
    return jobs.end_dead_jobs(plpy)


@sql_function("_open_logging_connection() RETURNS void", security_definer=True)
def _open_logging_connection(plpy: Plpy) -> None:
    # SECURITY DEFINER: reads dblink_mapping_jobmon, which callers need not be able to.
    opening.open_for_session(plpy)


@sql_function("_cancel_logging_write() RETURNS void", security_definer=True)
def _cancel_logging_write(plpy: Plpy) -> None:
    # SECURITY DEFINER: the logging backend may run as a role the caller cannot signal.
    link.cancel_in_flight(plpy)


@sql_function("_dblink_mapping_changed() RETURNS trigger")
def _dblink_mapping_changed(plpy: Plpy) -> None:
    # The trigger of dblink_mapping_jobmon: tells every session's logging connection,
    # and this session's at once, since its notification may come after its next call.
    notify = caller.plan(plpy, "SELECT pg_catalog.pg_notify($1, '')", ("pg_catalog.text",))
    plpy.execute(notify, [names.CONFIG_CHANNEL])
    connection.configuration_changed_here()


def close_session() -> None:
    """Let go of this session's resources: called when another version is loaded."""
    import plpy  # type: ignore[import-not-found]  # PL/Python's own, where this runs

    session_end.before_close(plpy)
    connection.close()
