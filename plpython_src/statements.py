"""The fixed statements that the logging connection runs, and nothing else.

Each is prepared once per logging connection; callers' values only ever travel as
bound parameters. ``{schema}`` is the extension's schema, quoted by the server.
"""

from __future__ import annotations

from .names import CONFIG_CHANNEL


class Statement:
    """A parameterised statement with its parameter types.

    ``on_demand``: prepared by its first use rather than with the session's setup, for
    the statements that only a refused or unusual write needs. A plain class rather than
    a dataclass: making a dataclass costs a session's first log call about half a
    millisecond. Its fields are not meant to change.
    """

    __slots__ = ("name", "on_demand", "param_types", "template", "wire_name")

    def __init__(
        self, name: str, param_types: tuple[str, ...], template: str, on_demand: bool = False
    ) -> None:
        self.name = name
        self.param_types = param_types
        self.template = template
        self.on_demand = on_demand
        # The name as libpq takes it, encoded once.
        self.wire_name = name.encode()

    def prepare(self, schema: str) -> str:
        """The PREPARE command that makes this statement on a logging connection."""
        types = ", ".join(self.param_types)
        return f"PREPARE {self.name} ({types}) AS {self.template.format(schema=schema)}"


def _job_row(job_id: str, start_time: str) -> str:
    """The row of add_job's INSERT INTO job_log (job_id, owner, job_name, start_time,
    pid, remote_session), job_id left out when ``job_id`` is empty.

    It first ends the runs of the same job name whose session died without ending them
    (the function is called only when the name has runs not ended: most often none has).
    $4 is when the caller's server started: a caller whose server is not the logging
    server's has its job marked remote_session, since this server cannot see its session.
    """
    return (
        f" SELECT {job_id}$1, upper($2), {start_time}, $3,"
        " $4 IS DISTINCT FROM extract(epoch FROM pg_postmaster_start_time())::text"
        " FROM (SELECT CASE WHEN EXISTS (SELECT FROM {schema}.job_log AS j"
        " WHERE j.job_name = upper($2) AND j.status IS NULL)"
        " THEN {schema}._end_dead_jobs(upper($2)) END) AS dead_runs_ended"
    )


ADD_JOB = Statement(
    "pg_jobmon_add_job",
    ("text", "text", "integer", "text"),
    "INSERT INTO {schema}.job_log (owner, job_name, start_time, pid, remote_session)"
    + _job_row("", "now()")
    + " RETURNING job_id",
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


def _for_owner_and_members(
    name: str, param_types: tuple[str, ...], template: str, *, on_demand: bool = False
) -> tuple[Statement, Statement]:
    """Two forms of a write to job ``j``, whose caller is named by the last parameter.

    The first writes only for the job's owner: the common case, and the cheap one. The
    second writes for any member of the owner role, and runs only after the first wrote
    nothing to a job that the caller turned out to be a member of. Each checks in the
    statement itself, so no row written means missing or refused. ``on_demand``: the
    first form too is prepared by its first use.
    """
    role = f"${len(param_types)}"
    return (
        Statement(name, param_types, template.replace("{who}", f"j.owner = {role}"), on_demand),
        Statement(
            f"{name}_as_member",
            param_types,
            template.replace("{who}", _member(role)),
            on_demand=True,
        ),
    )


ADD_STEP, ADD_STEP_AS_MEMBER = _for_owner_and_members(
    "pg_jobmon_add_step",
    ("bigint", "text", "text"),
    "INSERT INTO {schema}.job_detail (job_id, action, start_time)"
    " SELECT j.job_id, $2, now() FROM {schema}.job_log AS j"
    " WHERE j.job_id = $1 AND {who}"
    " RETURNING step_id",
)

UPDATE_STEP, UPDATE_STEP_AS_MEMBER = _for_owner_and_members(
    "pg_jobmon_update_step",
    ("bigint", "text", "text", "text"),
    "UPDATE {schema}.job_detail AS d"
    " SET end_time = now(),"
    " elapsed_time = extract(epoch FROM now() - d.start_time)::real,"
    " status = $2, message = $3"
    " WHERE d.step_id = $1"
    " AND EXISTS (SELECT FROM {schema}.job_log AS j WHERE j.job_id = d.job_id AND {who})",
)

# close_job is finishing with alert code 1; fail_job with the code it is given. It
# returns the job's name, whether job_retention sets a limit for it, so that only then
# does APPLY_RETENTION follow, and the job's owner, whose runs keep_runs counts.
FINISH_JOB, FINISH_JOB_AS_MEMBER = _for_owner_and_members(
    "pg_jobmon_finish_job",
    ("bigint", "integer", "text"),
    "UPDATE {schema}.job_log AS j"
    " SET end_time = now(), status = t.alert_text"
    " FROM {schema}.job_status_text AS t"
    " WHERE j.job_id = $1 AND t.alert_code = $2 AND {who}"
    " RETURNING j.job_name, {schema}._retention_applies(j.job_name), j.owner",
)

# One bounded batch of a job name's expired runs, after its job ended (committed); $2 is
# the job's owner.
APPLY_RETENTION = Statement(
    "pg_jobmon_apply_retention",
    ("text", "text"),
    "SELECT {schema}._apply_retention($1, $2)",
    on_demand=True,
)

# pg_jobmon.wait_for_writes off: the writes of add_job, add_step and update_step sent
# without waiting for their answer. The id comes from the caller (_next_job_id(),
# _next_step_ids()), and the time is the caller's clock at the call, in seconds since the
# epoch (the write may run a little later). Each admits the job's owner and its members
# in its one statement: a write that changed no row was refused or names a missing
# job or step, which is looked up only then.
SENT_ADD_JOB = Statement(
    "pg_jobmon_sent_add_job",
    ("text", "text", "integer", "text", "bigint", "double precision"),
    "INSERT INTO {schema}.job_log (job_id, owner, job_name, start_time, pid, remote_session)"
    + _job_row("$5, ", "to_timestamp($6)"),
    on_demand=True,
)

SENT_ADD_STEP = Statement(
    "pg_jobmon_sent_add_step",
    ("bigint", "text", "text", "bigint", "double precision"),
    "INSERT INTO {schema}.job_detail (step_id, job_id, action, start_time)"
    " SELECT $4, j.job_id, $2, to_timestamp($5) FROM {schema}.job_log AS j"
    f" WHERE j.job_id = $1 AND {_member('$3')}",
    on_demand=True,
)

SENT_UPDATE_STEP = Statement(
    "pg_jobmon_sent_update_step",
    ("bigint", "text", "text", "text", "double precision"),
    "UPDATE {schema}.job_detail AS d"
    " SET end_time = to_timestamp($5),"
    " elapsed_time = extract(epoch FROM to_timestamp($5) - d.start_time)::real,"
    " status = $2, message = $3"
    " WHERE d.step_id = $1"
    " AND EXISTS (SELECT FROM {schema}.job_log AS j WHERE j.job_id = d.job_id"
    f" AND {_member('$4')})",
    on_demand=True,
)

SENT = (SENT_ADD_JOB, SENT_ADD_STEP, SENT_UPDATE_STEP)


def prepare_sent(schema: str) -> str:
    """The statements of writes sent without waiting, prepared in one round trip."""
    return ";\n".join(statement.prepare(schema) for statement in SENT)


# Only run when a write to a job changed no row: the job's owner, and whether the
# caller is a member of it. No row: the job does not exist.
JOB_ACCESS = Statement(
    "pg_jobmon_job_access",
    ("bigint", "text"),
    f"SELECT j.owner, {_member('$2')} FROM {{schema}}.job_log AS j WHERE j.job_id = $1",
    on_demand=True,
)

# Only run when UPDATE_STEP changed no row: the step's job, that job's owner, and
# whether the caller is a member of it. No row: the step does not exist.
STEP_ACCESS = Statement(
    "pg_jobmon_step_access",
    ("bigint", "text"),
    f"SELECT j.job_id, j.owner, {_member('$2')}"
    " FROM {schema}.job_detail AS d JOIN {schema}.job_log AS j ON j.job_id = d.job_id"
    " WHERE d.step_id = $1",
    on_demand=True,
)

# A write to a running job from a backend other than the one that added it (a
# transaction-mode pooler runs a session's transactions on any of its backends): the job
# is marked remote_session, so that the end of the backend that added it does not end it
# as dead. Only for the job's owner and its members; $2 is the writing backend's pid.
MARK_JOB_MOVED = Statement(
    "pg_jobmon_mark_job_moved",
    ("bigint", "integer", "text"),
    "UPDATE {schema}.job_log AS j SET remote_session = true"
    " WHERE j.job_id = $1 AND j.pid <> $2 AND j.status IS NULL AND NOT j.remote_session"
    f" AND {_member('$3')}",
    on_demand=True,
)

# The same for the job of step $1.
MARK_STEP_MOVED = Statement(
    "pg_jobmon_mark_step_moved",
    ("bigint", "integer", "text"),
    "UPDATE {schema}.job_log AS j SET remote_session = true"
    " FROM {schema}.job_detail AS d"
    " WHERE d.step_id = $1 AND j.job_id = d.job_id AND j.pid <> $2 AND j.status IS NULL"
    f" AND NOT j.remote_session AND {_member('$3')}",
    on_demand=True,
)

# Every job name's dead runs (job_log_clear, before it deletes anything); $1 is NULL.
END_DEAD_JOBS = Statement(
    "pg_jobmon_end_dead_jobs",
    ("text",),
    "SELECT {schema}._end_dead_jobs($1)",
    on_demand=True,
)

# A caught error, written on the job's step if that step is still open, else on a step
# of its own (action FAIL JOB): a step that ended keeps its own record. The status is
# the text given, else the alert text of the code given. It returns the step's id; no
# row means the job is missing or not the caller's, or the alert code is missing. Only
# failures need it.
FAIL_STEP, FAIL_STEP_AS_MEMBER = _for_owner_and_members(
    "pg_jobmon_fail_step",
    ("bigint", "bigint", "text", "integer", "text", "text", "text", "text", "text", "text"),
    "WITH error AS (SELECT coalesce($3, (SELECT t.alert_text"
    " FROM {schema}.job_status_text AS t WHERE t.alert_code = $4)) AS status),"
    " job AS (SELECT j.job_id FROM {schema}.job_log AS j, error"
    " WHERE j.job_id = $1 AND error.status IS NOT NULL AND {who}),"
    " ended AS (UPDATE {schema}.job_detail AS d"
    " SET end_time = now(),"
    " elapsed_time = extract(epoch FROM now() - d.start_time)::real,"
    " status = error.status, message = $5, sqlstate = $6,"
    " error_detail = $7, error_hint = $8, error_context = $9"
    " FROM job, error"
    " WHERE d.step_id = $2 AND d.job_id = job.job_id AND d.end_time IS NULL"
    " RETURNING d.step_id),"
    " added AS (INSERT INTO {schema}.job_detail (job_id, action, start_time, end_time,"
    " elapsed_time, status, message, sqlstate, error_detail, error_hint, error_context)"
    " SELECT job.job_id, 'FAIL JOB', now(), now(), 0, error.status, $5, $6, $7, $8, $9"
    " FROM job, error WHERE NOT EXISTS (SELECT FROM ended)"
    " RETURNING step_id)"
    " SELECT step_id FROM ended UNION ALL SELECT step_id FROM added",
    on_demand=True,
)

ALL = (
    ADD_JOB,
    ADD_STEP,
    ADD_STEP_AS_MEMBER,
    UPDATE_STEP,
    UPDATE_STEP_AS_MEMBER,
    FINISH_JOB,
    FINISH_JOB_AS_MEMBER,
    APPLY_RETENTION,
    JOB_ACCESS,
    STEP_ACCESS,
    END_DEAD_JOBS,
    MARK_JOB_MOVED,
    MARK_STEP_MOVED,
    FAIL_STEP,
    FAIL_STEP_AS_MEMBER,
    SENT_ADD_JOB,
    SENT_ADD_STEP,
    SENT_UPDATE_STEP,
)


# A backend that waits for a lock or runs a statement reads nothing from its client: so
# that a caller that is gone (terminated, crashed, or gave up on the write) takes its
# write with it within half a second, the backend looks at its socket that often
# (PostgreSQL 14 and later have the setting).
CHECK_CLIENT = (
    "SELECT pg_catalog.set_config('client_connection_check_interval', '500ms', false)"
    " WHERE pg_catalog.current_setting('server_version_num')::integer >= 140000"
)

# What the caller decides by, read last in the setup batch. started: tells whether the
# logging backend runs on the caller's own server. in_reserved_slot: whether it took
# one of the connection slots kept for superusers (its role is one, and the client
# backends, itself included, are more than the slots left to everyone else).
SERVER_FACTS = """SELECT
    extract(epoch FROM pg_postmaster_start_time())::text AS started,
    r.rolsuper AND (
        SELECT count(*) FROM pg_stat_get_activity(NULL) AS a
        WHERE a.backend_type = 'client backend'
    ) > current_setting('max_connections')::integer
        - current_setting('superuser_reserved_connections')::integer AS in_reserved_slot
FROM pg_roles AS r
WHERE r.rolname = CURRENT_USER"""

# A session that ends with failures of writes sent without waiting that no call raised:
# recorded for logging_sessions as the backend exits (session_end.py), without a prepared
# statement, since nothing may wait for a preparation then. The first failure's call
# (add_step, ...), SQLSTATE and server's message: never the call's arguments.
RECORD_UNREPORTED = (
    "INSERT INTO {schema}.unreported_writes"
    " (caller_pid, caller_role, writes_failed, first_call, first_sqlstate, first_error)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
# The longest message recorded there: unreported_writes' CHECK on first_error.
UNREPORTED_MESSAGE_LIMIT = 200

# The version of dblink_mapping_jobmon's row as a fresh snapshot sees it; run only on a
# logging connection into the caller's own database.
CONFIG_VERSION = "SELECT {schema}._dblink_mapping_version()"


def session_setup(schema: str) -> str:
    """One batch that readies a new logging connection (a single round trip).

    It LISTENs before anything reads the configuration, so that no change goes
    unnoticed, and ends with SERVER_FACTS.
    """
    commands = [f"LISTEN {CONFIG_CHANNEL}", CHECK_CLIENT]
    commands += [statement.prepare(schema) for statement in ALL if not statement.on_demand]
    commands.append(SERVER_FACTS)
    return ";\n".join(commands)
