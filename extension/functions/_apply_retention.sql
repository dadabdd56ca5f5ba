-- _apply_retention(): deletes one bounded batch of a job name's expired runs, with their
-- steps, per job_retention; returns the number of runs deleted. close_job and fail_job
-- run it on the logging connection, in a transaction of its own after the job's end
-- committed; a DBA may call it to drain a backlog.
-- A run is expired when it ended longer ago than the limit for its status (keep_succeeded
-- for alert code 1's text, keep_failed for any other), or, for runs of p_owner, when it
-- is not among the keep_runs newest runs of its name that p_owner owns: each role's runs
-- are counted apart, so that no role's runs push another's out of the history (NULL:
-- no run is counted out). An expired run is deleted only when all hold:
--   - it has ended (status and end_time set): a running job is never deleted;
--   - its job_id is not in job_check_log: a failure still counted stays;
--   - a run of the same name that started later has ended at or after its end. So
--     check_job_status() answers as if nothing was deleted: the latest run started in
--     any window, and the latest end_time of the runs started in it, are never a deleted
--     run (a deleted run has a later-started one, in the same window, that ended later).
-- It never waits: rows locked by anyone are skipped, and a lock it would wait for fails
-- it after lock_timeout (close_job reports that as a WARNING). Each call deletes at most
-- 50 runs and 250 steps, oldest first: about 4.5 ms (bench/retention.py), so that a close
-- stays well within 10 ms of one without retention, and a backlog of a million runs
-- drains in 20,000 calls. A run with more steps than that loses them over several
-- calls, and goes with the last of them. Runs whose session died are ended first.
-- SECURITY DEFINER because the logging role has no DELETE on the log (the README's
-- grants for a logging role of its own give none), and needs none for its own writes.
-- Who may run it: a session logged in as the logging role (dblink_mapping_jobmon's
-- username) or as a superuser, whatever grants the current role has. The rows it locks
-- (the runs it deletes, the dead jobs it ends, and through the job_log trigger the
-- name's job_check_config row) stay locked until its transaction ends: only the logging
-- connection's own short transactions, or a DBA's, may hold them.
CREATE OR REPLACE FUNCTION @extschema@._apply_retention(p_job_name text, p_owner text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET lock_timeout = '5ms'
    -- The planner's estimates for a long history pass jit_above_cost, and compiling
    -- would take a hundred times longer than the batch itself.
    SET jit = off
    -- One plan per session for any job name: one made for a rare name scans
    -- job_log_start_time_idx past every other name's runs (20 ms for a million runs of
    -- a thousand names, where job_log_job_name_idx takes 1 ms).
    SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    c_batch_runs constant integer := 50;
    c_batch_steps constant integer := 250;
    v_name text := upper(p_job_name);
    v_rule record;
    v_ok text;
    v_runs_before timestamptz;
    v_before timestamptz;
    v_run record;
    v_jobs bigint[] := '{}';
    v_steps bigint := 0;
    v_deleted integer;
BEGIN
    IF NOT @extschema@._is_logging_session() THEN
        RAISE EXCEPTION 'permission denied for function _apply_retention'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only the pg_jobmon logging connection and superusers may delete'
                           ' expired runs.',
                  HINT = 'Expired runs are deleted as jobs of their name end.';
    END IF;
    SELECT r.keep_succeeded, r.keep_failed, r.keep_runs INTO v_rule
    FROM @extschema@.job_retention AS r
    WHERE r.job_name IN (v_name, '*')
    ORDER BY r.job_name = '*'
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    -- Runs whose session died are ended first (as failed): never ended, they would
    -- never expire.
    PERFORM @extschema@._end_dead_jobs(v_name);
    IF v_rule.keep_runs IS NOT NULL AND p_owner IS NOT NULL THEN
        -- The keep_runs-th newest start of p_owner's runs, from the end of
        -- job_log_job_name_idx: its runs that started before it are beyond the count
        -- (runs tied with it stay).
        SELECT j.start_time INTO v_runs_before
        FROM @extschema@.job_log AS j
        WHERE j.job_name = v_name AND j.owner = p_owner
        ORDER BY j.start_time DESC
        OFFSET v_rule.keep_runs - 1
        LIMIT 1;
    END IF;
    -- No expired run started after this (a run ends after it starts); NULL: no limit.
    v_before := greatest(v_runs_before, now() - least(v_rule.keep_succeeded, v_rule.keep_failed));
    IF v_before IS NULL THEN
        RETURN 0;
    END IF;
    v_ok := (SELECT t.alert_text FROM @extschema@.job_status_text AS t WHERE t.alert_code = 1);

    -- Oldest first, by job_log_job_name_idx; each run with its number of steps, counted
    -- no further than the batch's limit.
    FOR v_run IN
        SELECT j.job_id,
               (SELECT count(*)
                FROM (SELECT FROM @extschema@.job_detail AS d
                      WHERE d.job_id = j.job_id
                      LIMIT c_batch_steps + 1) AS s) AS steps
        FROM @extschema@.job_log AS j
        WHERE j.job_name = v_name
            AND j.start_time < v_before
            AND j.status IS NOT NULL
            AND j.end_time IS NOT NULL
            AND ((j.owner = p_owner AND j.start_time < v_runs_before)
                 OR j.end_time < now() - CASE WHEN j.status = v_ok THEN v_rule.keep_succeeded
                                              ELSE v_rule.keep_failed END)
            AND j.job_id NOT IN (SELECT l.job_id FROM @extschema@.job_check_log AS l)
            -- A subquery per run, not an EXISTS, which the planner may turn into a join
            -- that reads every run of the name first: this one walks
            -- job_log_job_name_idx from the run's start and stops at the first match,
            -- usually the next run.
            AND (SELECT true
                 FROM @extschema@.job_log AS later
                 WHERE later.job_name = v_name
                     AND later.start_time > j.start_time
                     AND later.end_time >= j.end_time
                 LIMIT 1)
        ORDER BY j.start_time
        LIMIT c_batch_runs
        FOR UPDATE OF j SKIP LOCKED
    LOOP
        EXIT WHEN v_steps + v_run.steps > c_batch_steps AND cardinality(v_jobs) > 0;
        v_jobs := v_jobs || v_run.job_id;
        v_steps := v_steps + v_run.steps;
    END LOOP;
    IF cardinality(v_jobs) = 0 THEN
        RETURN 0;
    END IF;

    -- Steps first, by job_detail_job_id_idx (as job_log_clear() does); the LIMIT only
    -- bites for a single run with more steps than a batch.
    DELETE FROM @extschema@.job_detail AS d
    WHERE d.step_id IN (SELECT s.step_id
                        FROM @extschema@.job_detail AS s
                        WHERE s.job_id = ANY (v_jobs)
                        LIMIT c_batch_steps);
    DELETE FROM @extschema@.job_log AS j
    WHERE j.job_id = ANY (v_jobs)
        AND NOT EXISTS (SELECT FROM @extschema@.job_detail AS d WHERE d.job_id = j.job_id);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN v_deleted;
END
$$;
-- Not for PUBLIC: a logging role of the DBA's choosing is granted EXECUTE (README, A
-- logging role of its own); the job-runner grant gives it too, and the check above
-- refuses such a caller.
REVOKE ALL ON FUNCTION @extschema@._apply_retention(text, text) FROM PUBLIC;
