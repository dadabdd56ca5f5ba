"""The logging connection under pressure: NOTIFY storms, old snapshots, full servers, grants.

Any role may send NOTIFY pg_jobmon_config, a session may be inside a REPEATABLE READ
transaction when it reads dblink_mapping_jobmon, the server may be out of ordinary
connection slots, and the logging role may lack a grant. In each case the logging
connection must follow the real configuration, keep the slots reserved for superusers
free, and say plainly what is wrong.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

import psycopg
import pytest
from fix_cluster import (
    SCHEMA,
    Cluster,
    add_job,
    logger_application_name,
    scalar,
    started_cluster,
    wait_until,
)
from readme import readme_sql

# Roles belong to the cluster, which every test of the run shares: these names are
# this file's own, and the roles fixture drops them again.
WRITER = "hardening_writer"
RUNNER = "hardening_runner"
NOTIFIER = "hardening_notifier"
# Time for a notification of a committed change to reach a listening logging connection
# before the session's next log call: its backend forwards it when idle, soon after.
DELIVERY_PAUSE = 0.5


class Logger(NamedTuple):
    """A logging backend as pg_stat_activity shows it."""

    pid: int
    backend_start: datetime
    usename: str


def logger_of(observer: psycopg.Connection, session: psycopg.Connection) -> Logger | None:
    """The logging backend of ``session``, if it has one; never more than one."""
    rows = observer.execute(
        "SELECT pid, backend_start, usename FROM pg_stat_activity WHERE application_name = %s",
        (logger_application_name(session.info.backend_pid),),
    ).fetchall()
    assert len(rows) <= 1, f"more than one logging backend: {rows}"
    return Logger(*rows[0]) if rows else None


def grant_as_readme(conn: psycopg.Connection, block: str, readme_role: str, role: str) -> None:
    """Run the README's grants of ``block``, given to ``role`` instead of ``readme_role``."""
    for statement in filter(str.strip, readme_sql(block).split(";")):
        conn.execute(statement.replace(readme_role, role))


@pytest.fixture
def roles(conn: psycopg.Connection) -> Iterator[None]:
    """A logging role and a job runner granted as the README says, and a bare role."""
    conn.execute(f"CREATE ROLE {WRITER} LOGIN")
    grant_as_readme(conn, "logging-role", "jobmon_writer", WRITER)
    conn.execute(f"CREATE ROLE {RUNNER} LOGIN")
    grant_as_readme(conn, "job-runner", "job_runner", RUNNER)
    conn.execute(f"CREATE ROLE {NOTIFIER} LOGIN")
    yield
    for role in (WRITER, RUNNER, NOTIFIER):
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


class Storm:
    """NOTIFY pg_jobmon_config, sent by a role with no grant at all, every 2 ms."""

    def __init__(self, cluster: Cluster, db: str) -> None:
        self.sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, args=(cluster, db), daemon=True)

    def _send(self, cluster: Cluster, db: str) -> None:
        try:
            with cluster.connect(db, user=NOTIFIER) as notifier:
                while not self._stop.is_set():
                    notifier.execute("NOTIFY pg_jobmon_config")
                    self.sent += 1
                    time.sleep(0.002)
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error

    def sent_more(self, since: int, more: int = 3) -> bool:
        """Whether it is still sending, and has sent ``more`` since it had sent ``since``."""
        assert self.error is None, f"the NOTIFY storm stopped: {self.error!r}"
        return self.sent >= since + more

    @contextlib.contextmanager
    def running(self) -> Iterator[Storm]:
        self._thread.start()
        try:
            wait_until(lambda: self.sent_more(0, 10), what="the NOTIFY storm to start")
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=30)
            assert not self._thread.is_alive(), "the NOTIFY storm did not stop"


def log_pairs(conn: psycopg.Connection, job_id: int, pairs: int) -> None:
    """2 x ``pairs`` log calls, each a statement (and a transaction) of its own."""
    for number in range(pairs):
        step = scalar(conn, f"SELECT {SCHEMA}.add_step(%s, %s)", (job_id, f"step {number}"))
        conn.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step,))


def log_through(storm: Storm, conn: psycopg.Connection, job_id: int, pairs: int) -> None:
    """2 x ``pairs`` log calls (a multiple of 5), 10 at a time, with fresh notifications.

    Log calls are quick: were they not paced by the storm, it could fall between two
    of them only a few times.
    """
    for _ in range(0, pairs, 5):
        sent = storm.sent
        log_pairs(conn, job_id, 5)
        wait_until(functools.partial(storm.sent_more, sent), what="more notifications")


def test_notify_storm_leaves_the_logging_connection_alone(
    cluster: Cluster, db: str, conn: psycopg.Connection, roles: None
) -> None:
    with cluster.connect(db) as observer, Storm(cluster, db).running() as storm:
        job_id = add_job(conn, "storm")
        first = logger_of(observer, conn)
        assert first is not None
        seen: set[Logger | None] = {first}
        for _ in range(10):
            log_through(storm, conn, job_id, 10)  # 200 log calls in all
            seen.add(logger_of(observer, conn))
    # One backend, started once: a replacement would have a later backend_start.
    assert seen == {first}
    counted = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE status = 'OK') FROM {SCHEMA}.job_detail"
    ).fetchone()
    assert counted == (100, 100)


def test_real_change_during_a_notify_storm_is_taken_up(
    cluster: Cluster, db: str, conn: psycopg.Connection, roles: None
) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (port) VALUES (%s)",
        (str(cluster.node.port),),
    )
    with (
        cluster.connect(db, user=RUNNER) as runner,
        cluster.connect(db) as observer,
        Storm(cluster, db).running() as storm,
    ):
        job_id = add_job(runner, "changed in a storm")
        log_through(storm, runner, job_id, 10)
        before = logger_of(observer, runner)
        assert before is not None and before.usename != WRITER
        observer.execute(f"UPDATE {SCHEMA}.dblink_mapping_jobmon SET username = %s", (WRITER,))
        time.sleep(DELIVERY_PAUSE)
        runner.execute(f"SELECT {SCHEMA}.add_step(%s, 'after the change')", (job_id,))
        after = logger_of(observer, runner)
        assert after is not None and after.usename == WRITER
        log_through(storm, runner, job_id, 25)  # and the new one stays through the storm too
        assert logger_of(observer, runner) == after
        runner.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.job_detail").fetchone() == (36,)
    assert conn.execute(f"SELECT owner, status FROM {SCHEMA}.job_log").fetchall() == [
        (RUNNER, "OK")
    ]


ISOLATION_LEVELS = ["REPEATABLE READ", "SERIALIZABLE"]


@pytest.mark.parametrize("isolation", ISOLATION_LEVELS)
def test_opened_in_an_old_snapshot_it_takes_up_the_new_row_later(
    cluster: Cluster, db: str, conn: psycopg.Connection, roles: None, isolation: str
) -> None:
    with cluster.connect(db, user=RUNNER) as runner, cluster.connect(db) as observer:
        runner.execute(f"BEGIN ISOLATION LEVEL {isolation}")
        runner.execute("SELECT 1")  # the transaction's snapshot, taken before the row
        observer.execute(
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (username) VALUES (%s)", (WRITER,)
        )
        # The first log call opens the logging connection; it may not see the row yet.
        job_id = add_job(runner, "old snapshot")
        runner.execute("COMMIT")
        time.sleep(DELIVERY_PAUSE)
        runner.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        logger = logger_of(observer, runner)
        assert logger is not None and logger.usename == WRITER
    rows = conn.execute(f"SELECT job_name, status FROM {SCHEMA}.job_log").fetchall()
    assert rows == [("OLD SNAPSHOT", "OK")]


@pytest.mark.parametrize("isolation", ISOLATION_LEVELS)
def test_change_seen_in_an_old_snapshot_is_taken_up_later(
    cluster: Cluster, db: str, conn: psycopg.Connection, roles: None, isolation: str
) -> None:
    with cluster.connect(db, user=RUNNER) as runner, cluster.connect(db) as observer:
        job_id = add_job(runner, "old snapshot")
        before = logger_of(observer, runner)
        assert before is not None and before.usename != WRITER
        runner.execute(f"BEGIN ISOLATION LEVEL {isolation}")
        runner.execute("SELECT 1")
        observer.execute(
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (username) VALUES (%s)", (WRITER,)
        )
        time.sleep(DELIVERY_PAUSE)
        # Told of the change, inside a snapshot that cannot see it: either role will do.
        runner.execute(f"SELECT {SCHEMA}.add_step(%s, 'in the snapshot')", (job_id,))
        runner.execute("COMMIT")
        runner.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        logger = logger_of(observer, runner)
        assert logger is not None and logger.usename == WRITER
    assert conn.execute(f"SELECT status FROM {SCHEMA}.job_log").fetchall() == [("OK",)]
    assert conn.execute(f"SELECT action FROM {SCHEMA}.job_detail").fetchall() == [
        ("in the snapshot",)
    ]


@pytest.mark.parametrize(
    ("revoked", "call"),
    [
        (
            f"INSERT ON {SCHEMA}.job_detail",
            f"SELECT {SCHEMA}.add_step(%s, 'never logged')",
        ),
        (
            f"UPDATE ON {SCHEMA}.job_log",
            f"SELECT {SCHEMA}.close_job(%s)",
        ),
        (
            f"USAGE ON SEQUENCE {SCHEMA}.job_detail_step_id_seq",
            f"SELECT {SCHEMA}.add_step(%s, 'never logged')",
        ),
    ],
    ids=["insert-job_detail", "update-job_log", "usage-step-sequence"],
)
def test_logging_role_lacking_a_grant_is_named_with_a_hint(
    cluster: Cluster, db: str, conn: psycopg.Connection, roles: None, revoked: str, call: str
) -> None:
    conn.execute(f"REVOKE {revoked} FROM {WRITER}")
    conn.execute(f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (username) VALUES (%s)", (WRITER,))
    with cluster.connect(db, user=RUNNER) as runner:
        job_id = add_job(runner, "short of a grant")
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
            runner.execute(call, (job_id,))
    diag = raised.value.diag
    assert diag.message_primary and "permission denied" in diag.message_primary
    assert diag.message_detail and WRITER in diag.message_detail, diag.message_detail
    assert diag.message_hint and "GRANT" in diag.message_hint, diag.message_hint
    assert conn.execute(f"SELECT status FROM {SCHEMA}.job_log").fetchall() == [(None,)]
    assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.job_detail").fetchone() == (0,)


def client_backends(conn: psycopg.Connection) -> int:
    """Client backends, each of which holds one of the max_connections slots."""
    return int(
        scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    )


def connect_when_free(small: Cluster, user: str = "postgres") -> psycopg.Connection:
    """Connect, waiting a little for slots that backends on their way out still hold."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return small.connect(user=user)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.slow
def test_logging_connections_leave_reserved_slots_to_superusers() -> None:
    # As small as the server whose DBA was locked out: 5 ordinary slots, 3 reserved.
    with (
        started_cluster(max_connections=8, superuser_reserved_connections=3) as small,
        contextlib.ExitStack() as stack,
    ):
        with small.connect() as admin:
            admin.execute(f"CREATE SCHEMA {SCHEMA}")
            admin.execute(f"CREATE EXTENSION pg_jobmon SCHEMA {SCHEMA} CASCADE")
            admin.execute(f"CREATE ROLE {RUNNER} LOGIN")
            grant_as_readme(admin, "job-runner", "job_runner", RUNNER)
        first = stack.enter_context(connect_when_free(small, RUNNER))
        wait_until(lambda: client_backends(first) == 1, what="the set-up session to end")
        job_id = add_job(first, "room to log")  # its logging connection takes slot 2
        runners = [stack.enter_context(small.connect(user=RUNNER)) for _ in range(3)]
        # The ordinary slots are full: a runner can open no more connections itself.
        with pytest.raises(psycopg.OperationalError, match="reserved"):
            small.connect(user=RUNNER).close()
        for runner in runners:
            with pytest.raises(psycopg.errors.TooManyConnections) as raised:
                add_job(runner, "no room to log")
            assert raised.value.diag.message_hint
            assert "max_connections" in raised.value.diag.message_hint
        # Every reserved slot is still there for the DBA.
        dbas = [stack.enter_context(connect_when_free(small)) for _ in range(3)]
        assert client_backends(dbas[0]) == 8
        # A superuser's logging connection may take a reserved slot.
        dbas.pop().close()
        wait_until(lambda: client_backends(dbas[0]) == 7, what="a reserved slot to free")
        add_job(dbas[0], "superuser job")
        assert logger_of(dbas[1], dbas[0]) is not None
        assert client_backends(dbas[1]) == 8
        # With room again, a runner whose log call failed logs again.
        dbas.pop(0).close()
        runners.pop().close()
        runners.pop().close()
        watcher = dbas[0]
        wait_until(lambda: client_backends(watcher) == 4, what="slots to free")
        add_job(runners[0], "room again")
        first.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        rows = watcher.execute(
            f"SELECT owner, job_name, status FROM {SCHEMA}.job_log ORDER BY job_id"
        ).fetchall()
        assert rows == [
            (RUNNER, "ROOM TO LOG", "OK"),
            ("postgres", "SUPERUSER JOB", None),
            (RUNNER, "ROOM AGAIN", None),
        ]


@pytest.mark.usefixtures("roles")
def test_the_opening_function_opens_nothing_for_a_direct_call(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """_open_logging_connection() is SECURITY DEFINER and the job-runner grant covers it:
    called directly, it opens no connection (one in a slot reserved for superusers, kept
    open, would lock the DBA out)."""
    with cluster.connect(db, user=RUNNER) as runner:
        for _ in range(3):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                runner.execute(f"SELECT {SCHEMA}._open_logging_connection()")
        assert logger_of(conn, runner) is None
        # Its log calls still open the one they need.
        add_job(runner, "logs as usual")
        assert logger_of(conn, runner) is not None
