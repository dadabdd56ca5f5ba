"""The fixed statements that the logging connection runs, and nothing else.

Each is prepared once per logging connection; callers' values only ever travel as
bound parameters. ``{schema}`` is the extension's schema, quoted by the server.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

CONFIG_CHANNEL = "pg_jobmon_config"


@dataclass(frozen=True)
class Statement:
    """A parameterised statement with its parameter types."""

    name: str
    param_types: tuple[str, ...]
    template: str

    @functools.cached_property
    def wire_name(self) -> bytes:
        """The name as libpq takes it, encoded once."""
        return self.name.encode()

    def prepare(self, schema: str) -> str:
        """The PREPARE command that makes this statement on a logging connection."""
        types = ", ".join(self.param_types)
        return f"PREPARE {self.name} ({types}) AS {self.template.format(schema=schema)}"


ADD_JOB = Statement(
    "pg_jobmon_add_job",
    ("text", "text", "integer"),
    "INSERT INTO {schema}.job_log (owner, job_name, start_time, pid)"
    " VALUES ($1, upper($2), now(), $3) RETURNING job_id",
)

ADD_STEP = Statement(
    "pg_jobmon_add_step",
    ("bigint", "text"),
    "INSERT INTO {schema}.job_detail (job_id, action, start_time)"
    " VALUES ($1, $2, now()) RETURNING step_id",
)

UPDATE_STEP = Statement(
    "pg_jobmon_update_step",
    ("bigint", "text", "text"),
    "UPDATE {schema}.job_detail"
    " SET end_time = now(),"
    " elapsed_time = extract(epoch FROM now() - start_time)::real,"
    " status = $2, message = $3"
    " WHERE step_id = $1",
)

# close_job is finishing with alert code 1; fail_job with the code it is given.
FINISH_JOB = Statement(
    "pg_jobmon_finish_job",
    ("bigint", "integer"),
    "UPDATE {schema}.job_log AS j"
    " SET end_time = now(), status = t.alert_text"
    " FROM {schema}.job_status_text AS t"
    " WHERE j.job_id = $1 AND t.alert_code = $2",
)

# Only run when FINISH_JOB changed no row: which of its two keys is missing.
FINISH_JOB_MISSING = Statement(
    "pg_jobmon_finish_job_missing",
    ("bigint", "integer"),
    "SELECT NOT EXISTS (SELECT FROM {schema}.job_log WHERE job_id = $1),"
    " NOT EXISTS (SELECT FROM {schema}.job_status_text WHERE alert_code = $2)",
)

ALL = (ADD_JOB, ADD_STEP, UPDATE_STEP, FINISH_JOB, FINISH_JOB_MISSING)


def session_setup(schema: str) -> str:
    """One batch that readies a new logging connection: a single round trip."""
    commands = [f"LISTEN {CONFIG_CHANNEL}"]
    commands += [statement.prepare(schema) for statement in ALL]
    return ";\n".join(commands)
