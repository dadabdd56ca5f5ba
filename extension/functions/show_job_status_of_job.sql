-- show_job_status(name, status): the latest runs of one job that ended with a status,
-- newest first.
CREATE OR REPLACE FUNCTION @extschema@.show_job_status(
    p_name text,
    p_status text,
    integer DEFAULT 10
)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_limit ALIAS FOR $3;
    v_name text := @extschema@._job_name(p_name);
BEGIN
    PERFORM @extschema@._require_text(p_status, 'status');
    RETURN QUERY
        SELECT *
        FROM @extschema@.job_log AS j
        WHERE j.job_name = v_name AND j.status = p_status
        ORDER BY j.job_id DESC
        LIMIT v_limit;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.show_job_status(text, text, integer) FROM PUBLIC;
