-- cancel_job(): cancels a running job from another session and logs it as failed.
-- Only a session that is running the job is signalled: a job that ended, or whose
-- process ID now belongs to a newer session, is refused before anything is sent.
-- The job's open step, or a new one, records who cancelled it, in 1.5.0's words.
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
    IF NOT pg_cancel_backend(v_job.pid) THEN
        RAISE EXCEPTION 'could not cancel job id %', p_job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Process ID %s ended before it could be signalled.', v_job.pid);
    END IF;
    -- 1.5.0's record of it: the step that was running gets the critical text and this
    -- message. A job with no open step gets a step of its own, so that no finished
    -- step is overwritten.
    SELECT d.step_id INTO v_step_id
    FROM @extschema@.job_detail AS d
    WHERE d.job_id = p_job_id
    ORDER BY d.step_id DESC
    LIMIT 1;
    IF v_step_id IS NULL OR EXISTS (SELECT FROM @extschema@.job_detail AS d
                                    WHERE d.step_id = v_step_id AND d.end_time IS NOT NULL) THEN
        v_step_id := @extschema@.add_step(p_job_id, 'CANCEL JOB');
    END IF;
    PERFORM @extschema@.update_step(
        v_step_id,
        @extschema@._alert_text(3),
        format('Manually cancelled via call to %s.cancel_job() by %s', '@extschema@', current_user)
    );
    PERFORM @extschema@.fail_job(p_job_id, 3);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.cancel_job(bigint) FROM PUBLIC;
