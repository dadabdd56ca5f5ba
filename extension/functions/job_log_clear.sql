-- job_log_clear(): deletes the jobs that started longer ago than an interval, with their
-- steps, and logs the clearing as a job of its own.
-- It runs in the caller's transaction and needs DELETE on job_log and job_detail. Jobs
-- still running are kept, whatever their age. Deleting old rows takes no lock that the
-- log writes of running jobs wait for: those insert and update other rows.
CREATE OR REPLACE FUNCTION @extschema@.job_log_clear(p_interval interval)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cutoff timestamptz;
    v_job_id bigint;
    v_step_id bigint;
    v_jobs bigint;
    v_steps bigint;
BEGIN
    PERFORM @extschema@._require_interval(p_interval);
    v_cutoff := now() - p_interval;
    v_job_id := @extschema@.add_job('PG_JOBMON JOB_LOG_CLEAR');
    v_step_id := @extschema@.add_step(
        v_job_id, format('Deleting jobs that started before %s', v_cutoff)
    );
    BEGIN
        -- Steps first, so that the log can say how many went; the jobs' cascade then
        -- finds none left. Both use job_detail_job_id_idx: a million steps take seconds.
        DELETE FROM @extschema@.job_detail AS d
        USING @extschema@.job_log AS j
        WHERE d.job_id = j.job_id
            AND j.start_time < v_cutoff
            AND j.job_id NOT IN (SELECT r.job_id FROM @extschema@._running_jobs() AS r);
        GET DIAGNOSTICS v_steps = ROW_COUNT;
        DELETE FROM @extschema@.job_log AS j
        WHERE j.start_time < v_cutoff
            AND j.job_id NOT IN (SELECT r.job_id FROM @extschema@._running_jobs() AS r);
        GET DIAGNOSTICS v_jobs = ROW_COUNT;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM @extschema@._fail_job_quietly(v_job_id, v_step_id, SQLERRM);
        RAISE;
    END;
    PERFORM @extschema@.update_step(
        v_step_id, 'OK', format('Deleted %s jobs and %s steps', v_jobs, v_steps)
    );
    PERFORM @extschema@.close_job(v_job_id);
END
$$;
REVOKE ALL ON FUNCTION @extschema@.job_log_clear(interval) FROM PUBLIC;
