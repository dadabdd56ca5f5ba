-- _live_backends(): the server's sessions, to tell which logged jobs are still running.
-- SECURITY DEFINER because pg_stat_activity hides other roles' backend_start from
-- ordinary roles, and a monitor must see every job's session. It gives process IDs and
-- start times only. PL/pgSQL, so that its query is planned once per session, not at
-- every call: add_job calls it (through _end_dead_jobs()) when its job name has runs
-- not ended.
-- It lists every session, pg_jobmon's logging connections included, and tells none
-- apart by application_name, which any session may set to anything: one that took a
-- logging connection's name would hide its jobs. Nothing needs them left out. A job's
-- pid is its caller's backend, never a logging connection's; and a logging connection
-- that got the pid of a job's dead session started after the job, which
-- _running_jobs() checks, as it does for any session that reuses a pid.
-- The view is read afresh at every call: PostgreSQL keeps the first read of the session
-- list for the rest of a transaction, and a session that started since would look dead
-- to a caller whose transaction began before it.
CREATE OR REPLACE FUNCTION @extschema@._live_backends()
    RETURNS TABLE (pid integer, backend_start timestamptz)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    RETURN QUERY SELECT a.pid, a.backend_start FROM pg_catalog.pg_stat_get_activity(NULL) AS a;
END
$$;
-- Executable by all: process IDs and start times are all it tells, and the log stays
-- guarded by the grants on its tables.
GRANT EXECUTE ON FUNCTION @extschema@._live_backends() TO PUBLIC;
