"""The code cache: a session's first call runs the modules' code that `make install` compiled.

Each loaded module's ``__spec__.cached`` names the cache its code came from (None for a
module compiled in the backend), which is what these tests read. A cache that does not
fit (another Python, other sources, a damaged file) is only a compile more: that case
runs on a private copy of the installation, so that the server's own files stay as
`make install` left them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import testgres
from fix_cluster import SCHEMA, TEMPLATE, Cluster, add_job, scalar, started_cluster
from old_release import installation_with_release

CACHE = "pg_jobmon--2.0.0.pycache"
PACKAGE = "_pg_jobmon_2_0_0"

# Where each of the package's modules got its code, as the loader's specs say.
CODE_ORIGINS = f"""
    CREATE FUNCTION public.code_origins() RETURNS text[]
    LANGUAGE plpython3u AS $$
    import sys
    return sorted(
        {{str(module.__spec__.cached) for name, module in sys.modules.items()
          if name == '{PACKAGE}' or name.startswith('{PACKAGE}.')}}
    )
    $$
"""


def code_origins(conn: psycopg.Connection) -> list[str]:
    conn.execute(CODE_ORIGINS)
    return list(scalar(conn, "SELECT public.code_origins()"))


def installed_cache() -> Path:
    return Path(testgres.get_pg_config()["SHAREDIR"]) / "extension" / CACHE


def test_make_install_writes_a_readable_cache() -> None:
    cache = installed_cache()
    assert cache.is_file(), "run make install first"
    assert cache.stat().st_mode & 0o777 == 0o644


def test_a_first_call_runs_the_cached_code(cluster: Cluster, db: str) -> None:
    with cluster.connect(db) as conn:
        job = add_job(conn, "first call")
        assert code_origins(conn) == [str(installed_cache())]
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job,))
        assert scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job,))


@pytest.fixture(scope="module")
def stale_cache_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster whose installation's code cache was made from other sources."""
    root = tmp_path_factory.mktemp("installation")
    bin_dir = installation_with_release(root)
    config = testgres.get_pg_config()
    real = [Path(config[key]) for key in ("BINDIR", "SHAREDIR", "PKGLIBDIR")]
    share = root / Path(config["SHAREDIR"]).relative_to(os.path.commonpath(real))
    copied = share / "extension" / CACHE
    data = bytearray(installed_cache().read_bytes())
    data[4] ^= 0x01  # the digest of the sources: another set of sources
    copied.unlink()
    copied.write_bytes(bytes(data))
    with started_cluster(bin_dir=bin_dir) as running:
        with running.connect() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        with running.connect(TEMPLATE) as conn:
            conn.execute(f"CREATE SCHEMA {SCHEMA}")
            conn.execute(f"CREATE EXTENSION pg_jobmon SCHEMA {SCHEMA} CASCADE")
        yield running


@pytest.mark.slow
def test_a_cache_that_does_not_fit_only_costs_a_compile(stale_cache_cluster: Cluster) -> None:
    with stale_cache_cluster.connect(TEMPLATE) as conn:
        job = add_job(conn, "stale cache")
        step = scalar(conn, f"SELECT {SCHEMA}.add_step(%s, 'step')", (job,))
        conn.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step,))
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job,))
        assert code_origins(conn) == ["None"]
    with stale_cache_cluster.connect(TEMPLATE) as conn:
        assert scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job,))
