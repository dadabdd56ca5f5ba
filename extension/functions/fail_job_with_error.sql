-- fail_job_with_error(): for an exception handler, records the error it caught on the
-- job's step and fails the job, and never raises, so that the handler's RAISE re-raises
-- the original error. PL/pgSQL lets only the handler read the error, hence the
-- arguments: SQLSTATE and SQLERRM, or the items of GET STACKED DIAGNOSTICS.
-- The step that gets the error is p_step_id while it is open; a NULL step id (add_step
-- failed, or no step had started) or a step that ended gets a step of its own, action
-- FAIL JOB. The step's status is the alert text of p_fail_level (NULL counts as 3), its
-- message 'ERROR: ' and the message, as sql_step writes them; the job ends as fail_job
-- ends it. A job id of NULL (add_job failed) logs nothing and says so in a WARNING; so
-- does a log write that fails, naming the job.
CREATE OR REPLACE FUNCTION @extschema@.fail_job_with_error(
    p_job_id bigint,
    p_step_id bigint,
    p_sqlstate text,
    p_message text,
    p_detail text DEFAULT NULL,
    p_hint text DEFAULT NULL,
    p_context text DEFAULT NULL,
    p_fail_level integer DEFAULT 3
)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_level integer := coalesce(p_fail_level, 3);
BEGIN
    IF p_job_id IS NULL THEN
        RAISE WARNING 'could not log error %: job id is null', p_sqlstate
            USING DETAIL = 'No job was logged, so the error is not recorded.',
                  HINT = 'The job id is null when add_job() failed or has not run yet.';
        RETURN;
    END IF;
    -- The texts may quote data in characters that the logging connection cannot take:
    -- they are escaped rather than refused.
    PERFORM @extschema@._fail_step(
        p_job_id, p_step_id, NULL, v_level,
        'ERROR: ' || coalesce(@extschema@._loggable_text(p_message), ''),
        @extschema@._loggable_text(p_sqlstate), @extschema@._loggable_text(p_detail),
        @extschema@._loggable_text(p_hint), @extschema@._loggable_text(p_context)
    );
    -- Every argument spelled out and typed: no overload can match better than this one.
    PERFORM @extschema@.fail_job(p_job_id, v_level);
EXCEPTION WHEN OTHERS THEN
    -- Not query_canceled: a cancel or a timeout during these writes stops the caller.
    RAISE WARNING 'could not log job id % as failed: %', p_job_id, SQLERRM;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.fail_job_with_error(
    bigint, bigint, text, text, text, text, text, integer
) FROM PUBLIC;
