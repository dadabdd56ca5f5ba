-- The benchmark's helpers, in a schema of its own beside pg_jobmon's (schema jobmon).

CREATE SCHEMA bench;

-- Log calls as jobs make them, one step (add_step, update_step) after another, until
-- p_seconds are up; timed by the server's clock.
CREATE FUNCTION bench.log_steps(
    p_seconds float8,
    OUT calls bigint,
    OUT started timestamptz,
    OUT finished timestamptz
)
    LANGUAGE plpgsql
AS $$
DECLARE
    v_job bigint := jobmon.add_job('bench steps');
    v_step bigint;
BEGIN
    calls := 0;
    started := clock_timestamp();
    LOOP
        v_step := jobmon.add_step(v_job, 'bench step');
        PERFORM jobmon.update_step(v_step, 'OK', 'done');
        calls := calls + 2;
        EXIT WHEN clock_timestamp() >= started + make_interval(secs => p_seconds);
    END LOOP;
    finished := clock_timestamp();
    PERFORM jobmon.close_job(v_job);
END
$$;

-- p_steps steps of job p_job: 2 * p_steps log calls.
CREATE FUNCTION bench.log_step_count(p_job bigint, p_steps integer)
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    FOR i IN 1 .. p_steps LOOP
        PERFORM jobmon.update_step(jobmon.add_step(p_job, 'bench step'), 'OK', 'done');
    END LOOP;
END
$$;

-- The floor of a first call, as issue 19 defines it: import psycopg, then open one libpq
-- connection to p_conninfo. Returns the seconds of each (the caller times the whole).
CREATE FUNCTION bench.import_and_connect(p_conninfo text)
    RETURNS float8[]
    LANGUAGE plpython3u
AS $$
import sys
import time

if "psycopg" in sys.modules:
    plpy.error("psycopg was imported before the import was timed")
started = time.perf_counter()
import psycopg
imported = time.perf_counter()
conn = psycopg.pq.PGconn.connect(p_conninfo.encode())
connected = time.perf_counter()
ok = conn.status == psycopg.pq.ConnStatus.OK
conn.finish()
if not ok:
    plpy.error("the timed connection failed")
return [imported - started, connected - imported]
$$;

-- Whether this backend has imported psycopg.
CREATE FUNCTION bench.psycopg_imported()
    RETURNS boolean
    LANGUAGE plpython3u
AS $$
import sys

return "psycopg" in sys.modules
$$;

-- psycopg's version and implementation in the server's Python.
CREATE FUNCTION bench.psycopg_in_server()
    RETURNS text
    LANGUAGE plpython3u
AS $$
import psycopg

return f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__} implementation)"
$$;

-- The server's Python.
CREATE FUNCTION bench.python_in_server()
    RETURNS text
    LANGUAGE plpython3u
AS $$
import sys

return sys.version.split()[0]
$$;
