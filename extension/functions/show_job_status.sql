-- show_job_status(): the latest jobs that ended with a status (as stored, e.g. 'CRITICAL'),
-- newest first.
CREATE OR REPLACE FUNCTION @extschema@.show_job_status(p_status text, integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_limit ALIAS FOR $2;
BEGIN
    PERFORM @extschema@._require_text(p_status, 'status');
    RETURN QUERY
        SELECT *
        FROM @extschema@.job_log AS j
        WHERE j.status = p_status
        ORDER BY j.job_id DESC
        LIMIT v_limit;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.show_job_status(text, integer) FROM PUBLIC;
