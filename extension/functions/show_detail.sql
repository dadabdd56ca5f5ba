-- show_detail(job id): the steps of one job, in the order they ran.
CREATE OR REPLACE FUNCTION @extschema@.show_detail(p_id bigint)
    RETURNS SETOF @extschema@.job_detail
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_id IS NULL THEN
        RAISE EXCEPTION 'job id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN QUERY
        SELECT *
        FROM @extschema@.job_detail AS d
        WHERE d.job_id = p_id
        ORDER BY d.step_id;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.show_detail(bigint) FROM PUBLIC;
