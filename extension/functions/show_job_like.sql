-- show_job_like(): the latest runs of the jobs whose name matches a regular expression,
-- case-insensitively, newest first. The pattern is not upper-cased: that would change
-- its meaning (\d and \D, for one). An empty pattern matches every name, as in 1.5.0.
CREATE OR REPLACE FUNCTION @extschema@.show_job_like(p_name text, integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_limit ALIAS FOR $2;
BEGIN
    IF p_name IS NULL THEN
        RAISE EXCEPTION 'job name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Compile the pattern now, so that an invalid one is an error even when no row is
    -- there to compare it with.
    PERFORM '' ~* p_name;
    RETURN QUERY
        SELECT *
        FROM @extschema@.job_log AS j
        WHERE j.job_name ~* p_name
        ORDER BY j.job_id DESC
        LIMIT v_limit;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.show_job_like(text, integer) FROM PUBLIC;
