-- show_detail(job name): the steps of the latest runs of one job (by default the very
-- latest): newest run first, each run's steps in the order they ran.
CREATE OR REPLACE FUNCTION @extschema@.show_detail(p_name text, integer DEFAULT 1)
    RETURNS SETOF @extschema@.job_detail
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_limit ALIAS FOR $2;
    -- Taken first, so that show_job checks the arguments even when no step exists.
    v_job_ids bigint[] := ARRAY(SELECT j.job_id FROM @extschema@.show_job(p_name, v_limit) AS j);
BEGIN
    RETURN QUERY
        SELECT *
        FROM @extschema@.job_detail AS d
        WHERE d.job_id = ANY (v_job_ids)
        ORDER BY d.job_id DESC, d.step_id;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.show_detail(text, integer) FROM PUBLIC;
