-- _run_sql(): runs the statement of sql_step or sql_job; returns the rows it affected.
-- It runs in the caller's session and transaction, with the caller's rights and the
-- caller's search_path; the SET clause pins search_path again when it returns.
CREATE OR REPLACE FUNCTION @extschema@._run_sql(p_sql text, p_search_path text)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rows bigint;
BEGIN
    PERFORM set_config('search_path', p_search_path, true);
    EXECUTE p_sql;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._run_sql(text, text) FROM PUBLIC;
