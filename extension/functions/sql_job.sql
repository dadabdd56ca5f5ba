-- sql_job(): logs a whole job that runs one statement, never twice at once under one name.
-- LANGUAGE sql with no SET clause, so that current_setting() reads the caller's
-- search_path, under which the statement runs. Every name here is schema-qualified.
CREATE OR REPLACE FUNCTION @extschema@.sql_job(p_job_name text, p_sql text)
    RETURNS text
    LANGUAGE sql
AS $$
    SELECT @extschema@._sql_job(p_job_name, p_sql, pg_catalog.current_setting('search_path'))
$$;
REVOKE ALL ON FUNCTION @extschema@.sql_job(text, text) FROM PUBLIC;
