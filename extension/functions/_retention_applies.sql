-- _retention_applies(): whether job_retention sets a limit for a job name (its own row,
-- else the '*' row). close_job and fail_job ask it in their finishing write, so that
-- only job names with a limit pay for _apply_retention() afterwards.
-- SECURITY DEFINER because the logging role, whichever it is, has no grant on
-- job_retention; it tells only whether a name has a limit.
-- PL/pgSQL rather than SQL: its plan is kept for the session, where a SQL function that
-- cannot be inlined (SECURITY DEFINER) is planned at every call, three times the cost.
CREATE OR REPLACE FUNCTION @extschema@._retention_applies(p_job_name text)
    RETURNS boolean
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN coalesce(
        (SELECT r.keep_succeeded IS NOT NULL OR r.keep_failed IS NOT NULL
                OR r.keep_runs IS NOT NULL
         FROM @extschema@.job_retention AS r
         WHERE r.job_name IN (upper(p_job_name), '*')
         ORDER BY r.job_name = '*'
         LIMIT 1),
        false
    );
END
$$;
-- Executable by all: the logging connection runs it, and its role is not known when the
-- extension is installed (dblink_mapping_jobmon may name any role, at any time). USAGE on
-- the schema still decides who can reach it.
GRANT EXECUTE ON FUNCTION @extschema@._retention_applies(text) TO PUBLIC;
