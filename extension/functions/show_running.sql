-- show_running(): the jobs that are running now, newest first.
-- A job counts as running while it has no status and the session that started it is
-- alive (see _running_jobs): a pid reused by a newer session does not count.
CREATE OR REPLACE FUNCTION @extschema@.show_running(integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_limit ALIAS FOR $1;
BEGIN
    RETURN QUERY
        SELECT *
        FROM @extschema@._running_jobs() AS r
        ORDER BY r.job_id DESC
        LIMIT v_limit;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.show_running(integer) FROM PUBLIC;
