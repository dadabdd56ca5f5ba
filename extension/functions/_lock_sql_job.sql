-- _lock_sql_job(): takes sql_job's lock on a job name for the caller's transaction;
-- false if another transaction holds it, because a run of that name is in progress.
-- SECURITY DEFINER: sql_job_lock grants nothing to anyone, so that no other role can
-- hold a name's row and make every sql_job of that name skip its work.
-- The first run of a name inserts its row; a second run that starts before the first
-- commits waits on that insert, for lock_timeout at most: that run is in progress too.
CREATE OR REPLACE FUNCTION @extschema@._lock_sql_job(p_job_name text)
    RETURNS boolean
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET lock_timeout = '100ms'
AS $$
BEGIN
    BEGIN
        INSERT INTO @extschema@.sql_job_lock (job_name) VALUES (p_job_name)
        ON CONFLICT DO NOTHING;
    EXCEPTION WHEN lock_not_available THEN
        RETURN false;
    END;
    -- Held until the caller's transaction ends, whichever way it ends.
    PERFORM FROM @extschema@.sql_job_lock AS l
    WHERE l.job_name = p_job_name
    FOR UPDATE SKIP LOCKED;
    RETURN FOUND;
END
$$;
-- Executable where sql_job is: the job-runner grant gives it.
REVOKE ALL ON FUNCTION @extschema@._lock_sql_job(text) FROM PUBLIC;
