-- _end_dead_jobs(): ends as failed the jobs whose session ended without closing them (a
-- crash, a terminate, a client gone), of one job name or, with NULL, of every name.
-- Dead: no status, and no live session is the one that ran it, by the rule of
-- _running_jobs(): the pid's session, if any, started after the job did. A job whose
-- session ran on another server (remote_session) is never judged here: this server
-- cannot see that session. Each dead job gets a last step saying what happened, and
-- fail_job's status; its end time is its last sign of life (its start or its latest
-- step), not the moment it was found, so that check_job_status() does not take a job
-- that died long ago for a recent run. Returns how many jobs it ended.
-- Run where jobs are logged from: in add_job's write on the logging connection, by
-- retention, and through the logging connection by job_log_clear. Rows are taken with
-- SKIP LOCKED: two sessions ending the same job at once never wait for each other, and
-- one of them ends it.
CREATE OR REPLACE FUNCTION @extschema@._end_dead_jobs(p_job_name text)
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_job record;
    v_ended bigint := 0;
    v_last_seen timestamptz;
    v_status constant text := @extschema@._alert_text(3);
BEGIN
    FOR v_job IN
        SELECT j.job_id, j.pid, j.start_time
        FROM @extschema@.job_log AS j
        WHERE j.status IS NULL
            AND (p_job_name IS NULL OR j.job_name = p_job_name)
            AND NOT j.remote_session
            AND NOT EXISTS (SELECT FROM @extschema@._live_backends() AS b
                            WHERE b.pid = j.pid AND b.backend_start <= j.start_time)
        ORDER BY j.job_id
        FOR UPDATE OF j SKIP LOCKED
    LOOP
        -- Locked and unended still: another session may have ended it in between.
        CONTINUE WHEN EXISTS (SELECT FROM @extschema@.job_log AS j
                              WHERE j.job_id = v_job.job_id AND j.status IS NOT NULL);
        SELECT greatest(v_job.start_time, max(greatest(d.start_time, d.end_time)))
        INTO v_last_seen
        FROM @extschema@.job_detail AS d
        WHERE d.job_id = v_job.job_id;
        INSERT INTO @extschema@.job_detail (
            job_id, action, start_time, end_time, elapsed_time, status, message
        ) VALUES (
            v_job.job_id, 'SESSION ENDED', now(), now(), 0, v_status,
            format('The session that ran this job (process ID %s) ended without closing it',
                   v_job.pid)
        );
        UPDATE @extschema@.job_log AS j
        SET end_time = v_last_seen, status = v_status
        WHERE j.job_id = v_job.job_id;
        v_ended := v_ended + 1;
    END LOOP;
    RETURN v_ended;
END
$$;
-- Executable by all: it works with the caller's own rights on job_log and job_detail,
-- and only ends jobs that no live session runs. The logging connection's role, which
-- may be one of the DBA's choosing, runs it in every add_job.
GRANT EXECUTE ON FUNCTION @extschema@._end_dead_jobs(text) TO PUBLIC;
