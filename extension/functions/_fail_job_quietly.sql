-- _fail_job_quietly(): logs a job as failed on the way out of an error, without hiding it.
-- The error being raised matters more than these log writes: if they fail too, a
-- WARNING says so and the original error goes on. A NULL step id skips the step.
CREATE OR REPLACE FUNCTION @extschema@._fail_job_quietly(
    p_job_id bigint,
    p_step_id bigint,
    p_error text
)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_step_id IS NOT NULL THEN
        PERFORM @extschema@.update_step(
            p_step_id, 'CRITICAL', 'ERROR: ' || @extschema@._loggable_text(p_error)
        );
    END IF;
    -- Every argument spelled out and typed: no overload can match better than this one.
    PERFORM @extschema@.fail_job(p_job_id, 3);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'could not log job id % as failed: %', p_job_id, SQLERRM;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._fail_job_quietly(bigint, bigint, text) FROM PUBLIC;
