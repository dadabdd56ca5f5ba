"""pg_dump and restore: history, settings and alerts come back once, and logging goes on.

One database is filled through the functions and dumped once in each format; every test
restores a dump into a new database that does not have the extension yet, as a DBA moving
a database would.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, run_client, scalar
from monitoring import ALL_CLEAR, check_job_status, check_log, configure, finished_job

Row = tuple[Any, ...]

# Every table of the extension, with the columns that order its rows completely.
TABLES = {
    "job_log": "job_id",
    "job_detail": "step_id",
    "job_check_log": "job_id, job_name, alert_code",
    "job_check_config": "job_name",
    "job_status_text": "alert_code",
    "dblink_mapping_jobmon": "port",
    "job_retention": "job_name",
}
SEQUENCES = ("job_log_job_id_seq", "job_detail_step_id_seq")

# A step message that COPY and plain SQL must both carry through unchanged.
AWKWARD_MESSAGE = "loaded 3 rows\tfrom 'a' \"b\" \\c\nsecond line, déjà vu"

FORMATS = {"custom": "-Fc", "plain": "-Fp"}

_restores = itertools.count(1)


@dataclass(frozen=True)
class Source:
    """The filled database: its dumps, and what it held when they were made."""

    db: str
    snapshot: dict[str, list[Row]]
    status: list[Row]
    dumps: dict[str, Path]


def snapshot(conn: psycopg.Connection) -> dict[str, list[Row]]:
    """Every row of every table of the extension, and the state of its sequences."""
    taken = {
        table: conn.execute(f"SELECT * FROM {SCHEMA}.{table} ORDER BY {keys}").fetchall()
        for table, keys in TABLES.items()
    }
    for sequence in SEQUENCES:
        taken[sequence] = conn.execute(
            f"SELECT last_value, is_called FROM {SCHEMA}.{sequence}"
        ).fetchall()
    return taken


def add_step(conn: psycopg.Connection, job_id: int, action: str) -> int:
    return int(scalar(conn, f"SELECT {SCHEMA}.add_step(%s, %s)", (job_id, action)))


def update_step(conn: psycopg.Connection, step_id: int, status: str, message: str) -> None:
    conn.execute(f"SELECT {SCHEMA}.update_step(%s, %s, %s)", (step_id, status, message))


def fill(cluster: Cluster, conn: psycopg.Connection) -> None:
    """History, settings, a custom status and alerts, all written the way users write them."""
    conn.execute(
        f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (port) VALUES (%s)",
        (str(cluster.node.port),),
    )
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (4, 'PAGE')")
    configure(conn, "NIGHTLY", warn="1 day", error="2 days")

    good = add_job(conn, "nightly")
    update_step(conn, add_step(conn, good, "load"), "OK", AWKWARD_MESSAGE)
    update_step(conn, add_step(conn, good, "index"), "OK", "done")
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (good,))

    bad = add_job(conn, "nightly")
    update_step(conn, add_step(conn, bad, "load"), "CRITICAL", "ERROR: disk full")
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (bad,))

    finished_job(conn, "weekly", fail_level=2)
    finished_job(conn, "hourly", fail_level=4)
    add_step(conn, add_job(conn, "still running"), "waiting")

    # A run deleted by hand: the sequences are now ahead of the highest ids in the tables.
    dropped = add_job(conn, "dropped")
    add_step(conn, dropped, "doomed")
    conn.execute(f"DELETE FROM {SCHEMA}.job_log WHERE job_id = %s", (dropped,))

    # Retention settings, last, and with limits that nothing here has reached yet.
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_retention VALUES"
        " ('*', '30 days', '1 year', NULL), ('NIGHTLY', NULL, NULL, 50)"
    )


@pytest.fixture(scope="module")
def source(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Source:
    db = cluster.new_database()
    with cluster.connect(db) as conn:
        fill(cluster, conn)
    with cluster.connect(db) as conn:
        taken = snapshot(conn)
        status = check_job_status(conn)
    assert all(taken.values()), f"the filled database has an empty table: {taken}"
    assert {code for _, _, code in taken["job_check_log"]} == {2, 3, 4}
    assert status != ALL_CLEAR
    # The deleted run took the highest ids: the sequences are ahead of the tables.
    assert taken["job_log_job_id_seq"][0][0] > max(row[0] for row in taken["job_log"])
    assert taken["job_detail_step_id_seq"][0][0] > max(row[1] for row in taken["job_detail"])

    directory = tmp_path_factory.mktemp("dumps")
    dumps = {name: directory / f"{db}.{name}" for name in FORMATS}
    for name, option in FORMATS.items():
        run_client(cluster, "pg_dump", option, "-f", str(dumps[name]), db)
    return Source(db, taken, status, dumps)


@pytest.fixture(params=sorted(FORMATS))
def restored(cluster: Cluster, source: Source, request: pytest.FixtureRequest) -> str:
    """A new database without the extension, with a dump of the source restored into it."""
    db = f"{source.db}_restored_{next(_restores)}"
    with cluster.connect() as conn:
        conn.execute(f"CREATE DATABASE {db}")
    with cluster.connect(db) as conn:
        assert scalar(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_jobmon'") == 0
    dump = str(source.dumps[request.param])
    if request.param == "plain":
        run_client(cluster, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", dump)
    else:
        run_client(cluster, "pg_restore", "-d", db, dump)
    return db


def test_every_row_comes_back_once(cluster: Cluster, source: Source, restored: str) -> None:
    """Both the history and the settings, with the sequences where they were."""
    with cluster.connect(restored) as conn:
        assert snapshot(conn) == source.snapshot


def test_new_ids_continue_after_the_restored_ones(
    cluster: Cluster, source: Source, restored: str
) -> None:
    ((last_job_id, _),) = source.snapshot["job_log_job_id_seq"]
    ((last_step_id, _),) = source.snapshot["job_detail_step_id_seq"]
    with cluster.connect(restored) as conn:
        # Logged in a transaction that rolls back: the rows are written on their own.
        with conn.transaction(force_rollback=True):
            job_id = add_job(conn, "after restore")
            step_id = add_step(conn, job_id, "check")
            update_step(conn, step_id, "OK", "restored")
            conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        job = conn.execute(
            f"SELECT job_name, status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)
        ).fetchall()
        step = conn.execute(
            f"SELECT job_id, action, status, message FROM {SCHEMA}.job_detail WHERE step_id = %s",
            (step_id,),
        ).fetchall()
    # Past every id the source handed out, the deleted run's included: none is reused.
    assert job_id > last_job_id
    assert step_id > last_step_id
    assert job == [("AFTER RESTORE", "OK")]
    assert step == [(job_id, "check", "OK", "restored")]


def test_alerts_carry_on_from_the_restored_ones(
    cluster: Cluster, source: Source, restored: str
) -> None:
    with cluster.connect(restored) as conn:
        assert check_job_status(conn) == source.status
        # A good run ends the restored alert of its job, and only that one.
        finished_job(conn, "nightly")
        others = [row for row in source.snapshot["job_check_log"] if row[1] != "NIGHTLY"]
        assert check_log(conn) == others
        # The restored custom status is a status like the shipped ones.
        paged = finished_job(conn, "monthly", fail_level=4)
        status = scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (paged,))
        assert check_log(conn) == [*others, (paged, "MONTHLY", 4)]
    assert status == "PAGE"
