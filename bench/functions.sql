-- The benchmark's helpers, in a schema of its own beside pg_jobmon's (schema jobmon).

CREATE SCHEMA bench;

-- Log calls as jobs make them, one step (add_step, update_step) after another, until
-- p_seconds are up; timed by the server's clock up to the return of close_job, which
-- waits for any write still pending (pg_jobmon.wait_for_writes = off).
CREATE FUNCTION bench.log_steps(
    p_seconds float8,
    OUT calls bigint,
    OUT started timestamptz,
    OUT finished timestamptz,
    OUT job bigint
)
    LANGUAGE plpgsql
AS $$
DECLARE
    v_step bigint;
BEGIN
    job := jobmon.add_job('bench steps');
    calls := 0;
    started := clock_timestamp();
    LOOP
        v_step := jobmon.add_step(job, 'bench step');
        PERFORM jobmon.update_step(v_step, 'OK', 'done');
        calls := calls + 2;
        EXIT WHEN clock_timestamp() >= started + make_interval(secs => p_seconds);
    END LOOP;
    PERFORM jobmon.close_job(job);
    finished := clock_timestamp();
END
$$;

-- CPU work in the caller's own backend, the same every time: a count of p_rows rows.
CREATE FUNCTION bench.work(p_rows integer)
    RETURNS bigint
    LANGUAGE sql
AS $$
SELECT count(*) FROM generate_series(1, p_rows)
$$;

-- A job that works between its log calls: per step add_step, work, update_step, work
-- again. With p_log false, the work alone. Seconds by the server's clock, from before
-- add_job to the return of close_job (which waits for the writes still pending).
CREATE FUNCTION bench.working_job(
    p_steps integer,
    p_rows integer,
    p_log boolean,
    OUT seconds float8,
    OUT job bigint
)
    LANGUAGE plpgsql
AS $$
DECLARE
    v_started timestamptz := clock_timestamp();
    v_step bigint;
BEGIN
    IF p_log THEN
        job := jobmon.add_job('bench working job');
    END IF;
    FOR i IN 1 .. p_steps LOOP
        IF p_log THEN
            v_step := jobmon.add_step(job, 'bench step');
        END IF;
        PERFORM bench.work(p_rows);
        IF p_log THEN
            PERFORM jobmon.update_step(v_step, 'OK', 'done');
        END IF;
        PERFORM bench.work(p_rows);
    END LOOP;
    IF p_log THEN
        PERFORM jobmon.close_job(job);
    END IF;
    seconds := extract(epoch FROM clock_timestamp() - v_started);
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

-- Whether psycopg's C implementation (psycopg_c) is installed in the server's Python,
-- found without importing it.
CREATE FUNCTION bench.psycopg_c_installed()
    RETURNS boolean
    LANGUAGE plpython3u
AS $$
import importlib.util

return importlib.util.find_spec("psycopg_c") is not None
$$;

-- The implementation (c, binary, python) of the psycopg this backend uses.
CREATE FUNCTION bench.psycopg_impl()
    RETURNS text
    LANGUAGE plpython3u
AS $$
import psycopg

return psycopg.pq.__impl__
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
