-- _running_jobs(): jobs not yet ended whose session is alive and is the one that ran them.
-- A process ID is reused once its session ends, so the session must have started
-- before the job did: a newer session with the same pid is not running the job.
CREATE OR REPLACE FUNCTION @extschema@._running_jobs()
    RETURNS SETOF @extschema@.job_log
    LANGUAGE sql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT j.*
    FROM @extschema@.job_log AS j
    JOIN @extschema@._live_backends() AS b
        ON b.pid = j.pid AND b.backend_start <= j.start_time
    WHERE j.status IS NULL
$$;
-- Executable by all: it reads job_log with the caller's own rights.
GRANT EXECUTE ON FUNCTION @extschema@._running_jobs() TO PUBLIC;
