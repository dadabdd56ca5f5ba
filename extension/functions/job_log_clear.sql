-- job_log_clear(): deletes the jobs that started an interval ago or earlier, with their
-- steps, and logs the clearing as a job of its own; a NOTICE says what it deleted.
-- It runs in the caller's transaction and needs DELETE on job_log and job_detail. Jobs
-- still running are kept, whatever their age, and so are the jobs not ended whose
-- session this server cannot judge (remote_session: run on another server, or logged
-- from more than one backend through a pooler). Deleting old rows takes no lock that the
-- log writes of running jobs wait for: those insert and update other rows. Jobs whose
-- session ended without ending them are ended as failed first (see _end_dead_jobs()).
CREATE OR REPLACE FUNCTION @extschema@.job_log_clear(p_interval interval)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_boundary timestamptz;
    v_job_id bigint;
    v_step_id bigint;
    v_jobs bigint;
    v_done text;
BEGIN
    PERFORM @extschema@._require_interval(p_interval);
    v_boundary := now() - p_interval;
    -- Jobs whose session died are ended as failed first, on the logging connection: they
    -- are deleted with the rest if old enough, and counted as failures if not.
    PERFORM @extschema@._end_dead_jobs_autonomously();
    -- 1.5.0's job name, action, notices and messages, word for word.
    v_job_id := @extschema@.add_job('Purging pg_jobmon job logs older than ' || v_boundary);
    v_step_id := @extschema@.add_step(
        v_job_id, 'Purging pg_jobmon job logs older than ' || v_boundary
    );
    BEGIN
        -- Steps first: the jobs' cascade then finds none left. Both use
        -- job_detail_job_id_idx, where a cascade would look up a million steps one job
        -- at a time.
        DELETE FROM @extschema@.job_detail AS d
        USING @extschema@.job_log AS j
        WHERE d.job_id = j.job_id
            AND j.start_time <= v_boundary
            AND (j.status IS NOT NULL OR NOT j.remote_session)
            AND j.job_id NOT IN (SELECT r.job_id FROM @extschema@._running_jobs() AS r);
        DELETE FROM @extschema@.job_log AS j
        WHERE j.start_time <= v_boundary
            AND (j.status IS NOT NULL OR NOT j.remote_session)
            AND j.job_id NOT IN (SELECT r.job_id FROM @extschema@._running_jobs() AS r);
        GET DIAGNOSTICS v_jobs = ROW_COUNT;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM @extschema@._fail_job_quietly(v_job_id, v_step_id, SQLERRM);
        RAISE;
    END;
    IF v_jobs > 0 THEN
        v_done := format('Deleted %s rows from job_log and associated rows in job_detail', v_jobs);
    ELSE
        v_done := 'No jobs logged older than ' || v_boundary;
    END IF;
    RAISE NOTICE '%', v_done;
    PERFORM @extschema@.update_step(v_step_id, 'OK', v_done);
    PERFORM @extschema@.close_job(v_job_id);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.job_log_clear(interval) FROM PUBLIC;
