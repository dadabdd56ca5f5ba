-- cancel_job(): cancels a running job from another session and logs it as failed.
-- Only a session that is running the job is signalled: a job that ended, or whose
-- process ID now belongs to a newer session, is refused before anything is sent.
-- The job's open step, or a new one, records who cancelled it, in 1.5.0's words; the
-- record is written even when the caller is not a member of the job's owner role.
CREATE OR REPLACE FUNCTION @extschema@.cancel_job(p_job_id bigint)
    RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_job @extschema@.job_log;
    v_step_id bigint;
BEGIN
    IF p_job_id IS NULL THEN
        RAISE EXCEPTION 'job id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO v_job FROM @extschema@.job_log AS j WHERE j.job_id = p_job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job id % does not exist', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_job.status IS NOT NULL THEN
        RAISE EXCEPTION 'job id % has already ended', p_job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Its status is %s since %s.', v_job.status, v_job.end_time);
    END IF;
    IF v_job.pid = pg_backend_pid() THEN
        RAISE EXCEPTION 'job id % runs in this session', p_job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A session cannot cancel its own job; end it with fail_job().';
    END IF;
    IF NOT EXISTS (SELECT FROM @extschema@._running_jobs() AS r WHERE r.job_id = p_job_id) THEN
        RAISE EXCEPTION 'job id % is not running in any session', p_job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format(
                      'The session that ran it (process ID %s) has ended without ending the job;'
                      ' no session was signalled.', v_job.pid),
                  HINT = 'To record the job as failed, call fail_job().';
    END IF;
    -- Signals with this caller's rights, then records the cancel for the job's owner:
    -- whoever PostgreSQL lets cancel the job's session may log that it was cancelled.
    IF NOT @extschema@._cancel_running_job(p_job_id) THEN
        RAISE EXCEPTION 'could not cancel job id %', p_job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Process ID %s ended before it could be signalled.', v_job.pid);
    END IF;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.cancel_job(bigint) FROM PUBLIC;
