-- _live_backends(): the server's sessions, to tell which logged jobs are still running.
-- SECURITY DEFINER because pg_stat_activity hides other roles' backend_start from
-- ordinary roles, and a monitor must see every job's session. It gives process IDs and
-- start times only, and leaves out pg_jobmon's own logging connections.
CREATE OR REPLACE FUNCTION @extschema@._live_backends()
    RETURNS TABLE (pid integer, backend_start timestamptz)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.pid, a.backend_start
    FROM pg_catalog.pg_stat_activity AS a
    WHERE a.application_name NOT LIKE 'pg_jobmon logger for backend %'
$$;
-- Executable by all: process IDs and start times are all it tells, and the log stays
-- guarded by the grants on its tables.
GRANT EXECUTE ON FUNCTION @extschema@._live_backends() TO PUBLIC;
