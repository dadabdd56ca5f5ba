-- show_job(): the latest runs of one job, newest first.
-- The limit stays unnamed, as in 1.5.0; NULL means no limit.
CREATE OR REPLACE FUNCTION @extschema@.show_job(p_name text, integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_limit ALIAS FOR $2;
    v_name text := @extschema@._job_name(p_name);
BEGIN
    RETURN QUERY
        SELECT *
        FROM @extschema@.job_log AS j
        WHERE j.job_name = v_name
        ORDER BY j.job_id DESC
        LIMIT v_limit;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.show_job(text, integer) FROM PUBLIC;
