-- sql_step(): logs a step that runs one statement in the caller's session and transaction.
-- LANGUAGE sql with no SET clause, so that current_setting() reads the caller's
-- search_path, under which the statement runs. Every name here is schema-qualified.
CREATE OR REPLACE FUNCTION @extschema@.sql_step(p_job_id bigint, p_action text, p_sql text)
    RETURNS boolean
    LANGUAGE sql
AS $$
    SELECT @extschema@._sql_step(
        p_job_id, p_action, p_sql, pg_catalog.current_setting('search_path')
    )
$$;
REVOKE ALL ON FUNCTION @extschema@.sql_step(bigint, text, text) FROM PUBLIC;
