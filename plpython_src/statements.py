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


def _member(role: str) -> str:
    """Whether the role named by parameter ``role`` is a member of job ``j``'s owner.

    Per PostgreSQL's role membership; a superuser is a member of every role, a dropped
    one included. The owner may not exist here (dropped, or a logging server of its
    own): pg_has_role() raises on an unknown name, so it gets the OIDs of roles found
    by name, never a name.
    """
    return (
        f"(j.owner = {role} OR EXISTS (SELECT FROM pg_catalog.pg_roles AS m"
        f" WHERE m.rolname = {role} AND (m.rolsuper OR EXISTS ("
        "SELECT FROM pg_catalog.pg_roles AS o WHERE o.rolname = j.owner"
        " AND pg_catalog.pg_has_role(m.oid, o.oid, 'MEMBER')))))"
    )


# The writes to a job check in the same statement that the caller, named by the last
# parameter, is a member of the job's owner: no row written means missing or refused.
ADD_STEP = Statement(
    "pg_jobmon_add_step",
    ("bigint", "text", "text"),
    "INSERT INTO {schema}.job_detail (job_id, action, start_time)"
    " SELECT j.job_id, $2, now() FROM {schema}.job_log AS j"
    f" WHERE j.job_id = $1 AND {_member('$3')}"
    " RETURNING step_id",
)

UPDATE_STEP = Statement(
    "pg_jobmon_update_step",
    ("bigint", "text", "text", "text"),
    "UPDATE {schema}.job_detail AS d"
    " SET end_time = now(),"
    " elapsed_time = extract(epoch FROM now() - d.start_time)::real,"
    " status = $2, message = $3"
    " WHERE d.step_id = $1"
    " AND EXISTS (SELECT FROM {schema}.job_log AS j"
    f" WHERE j.job_id = d.job_id AND {_member('$4')})",
)

# close_job is finishing with alert code 1; fail_job with the code it is given.
FINISH_JOB = Statement(
    "pg_jobmon_finish_job",
    ("bigint", "integer", "text"),
    "UPDATE {schema}.job_log AS j"
    " SET end_time = now(), status = t.alert_text"
    " FROM {schema}.job_status_text AS t"
    f" WHERE j.job_id = $1 AND t.alert_code = $2 AND {_member('$3')}",
)

# Only run when a write to a job changed no row: the job's owner, and whether the
# caller is a member of it. No row: the job does not exist.
JOB_ACCESS = Statement(
    "pg_jobmon_job_access",
    ("bigint", "text"),
    f"SELECT j.owner, {_member('$2')} FROM {{schema}}.job_log AS j WHERE j.job_id = $1",
)

# Only run when UPDATE_STEP changed no row: the step's job and that job's owner. No
# row: the step does not exist.
STEP_ACCESS = Statement(
    "pg_jobmon_step_access",
    ("bigint",),
    "SELECT j.job_id, j.owner"
    " FROM {schema}.job_detail AS d JOIN {schema}.job_log AS j ON j.job_id = d.job_id"
    " WHERE d.step_id = $1",
)

ALL = (ADD_JOB, ADD_STEP, UPDATE_STEP, FINISH_JOB, JOB_ACCESS, STEP_ACCESS)


def session_setup(schema: str) -> str:
    """One batch that readies a new logging connection: a single round trip."""
    commands = [f"LISTEN {CONFIG_CHANNEL}"]
    commands += [statement.prepare(schema) for statement in ALL]
    return ";\n".join(commands)
