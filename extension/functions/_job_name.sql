-- _job_name(): a job name as the log stores it (upper-cased); NULL or blank is refused.
CREATE OR REPLACE FUNCTION @extschema@._job_name(p_name text)
    RETURNS text
    LANGUAGE plpgsql
    IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._require_text(p_name, 'job name');
    RETURN upper(p_name);
END
$$;
-- Executable by all: it computes only.
GRANT EXECUTE ON FUNCTION @extschema@._job_name(text) TO PUBLIC;
