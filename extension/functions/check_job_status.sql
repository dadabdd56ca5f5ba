-- check_job_status(interval): what a Nagios-style check asks every minute. One row per
-- problem, worst first (alert code, then job name, then alert status), or one all-clear
-- row (1, 'OK', NULL, 'All jobs run successfully').
--   FAILED_RUN  job_check_log rows not yet cleared by a good run. A job with no active
--               job_check_config row alerts at 3 of them in a row; a configured one when
--               its critical runs pass its sensitivity, and at once for warnings.
--   MISSING     an active configured job with no good run completed within its warn (2)
--               or error (3) threshold; p_history bounds how far back to look.
--   RUNNING     the same, while the job is running: it is late, but on its way.
--   BLOCKED     (2) a running configured job whose session waits for a lock.
-- Alert codes are 1 to 3 for the check's exit status: a job escalated to a custom code
-- reports 3, and its text names the custom level. Only the caller's own rights are used:
-- a monitoring role needs SELECT on the tables read here.
CREATE OR REPLACE FUNCTION @extschema@.check_job_status(
    p_history interval,
    OUT alert_code integer,
    OUT alert_status text,
    OUT job_name text,
    OUT alert_text text
)
    RETURNS SETOF record
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_longest interval;
    v_ok text := @extschema@._alert_text(1);
BEGIN
    PERFORM @extschema@._require_interval(p_history);
    SELECT max(greatest(c.warn_threshold, c.error_threshold)) INTO v_longest
    FROM @extschema@.job_check_config AS c
    WHERE c.active;
    IF p_history < v_longest THEN
        RAISE EXCEPTION 'interval argument (%) must be greater than or equal to the longest'
                        ' threshold in job_check_config (%)',
                        p_history, v_longest
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Without an argument, check_job_status() uses the longest threshold.';
    END IF;

    RETURN QUERY
    WITH config AS (
        SELECT c.job_name, c.warn_threshold, c.error_threshold, c.sensitivity
        FROM @extschema@.job_check_config AS c
        WHERE c.active
    ),
    alert_levels AS (
        SELECT l.job_name,
               l.alert_code,
               count(*) AS runs,
               max(l.alert_code) OVER (PARTITION BY l.job_name) AS top_code
        FROM @extschema@.job_check_log AS l
        WHERE l.alert_code >= 2
        GROUP BY l.job_name, l.alert_code
    ),
    failures AS (
        SELECT a.job_name,
               max(a.top_code) AS top_code,
               sum(a.runs) AS runs,
               sum(a.runs) FILTER (WHERE a.alert_code = a.top_code) AS top_runs,
               coalesce(sum(a.runs) FILTER (WHERE a.alert_code >= 3), 0) AS critical_runs,
               coalesce(sum(a.runs) FILTER (WHERE a.alert_code = 2), 0) AS warning_runs
        FROM alert_levels AS a
        GROUP BY a.job_name
    ),
    failed_unconfigured AS (
        SELECT least(f.top_code, 3) AS code,
               'FAILED_RUN' AS status,
               f.job_name,
               '3 consecutive ' || @extschema@._alert_text(f.top_code) || ' runs' AS text
        FROM failures AS f
        WHERE f.runs >= 3
            AND NOT EXISTS (SELECT FROM config AS c WHERE c.job_name = f.job_name)
    ),
    failed_configured AS (
        SELECT CASE WHEN f.critical_runs > c.sensitivity THEN least(f.top_code, 3) ELSE 2 END,
               'FAILED_RUN',
               f.job_name,
               CASE WHEN f.critical_runs > c.sensitivity
                    THEN f.top_runs || ' ' || @extschema@._alert_text(f.top_code) || ' run(s)'
                    ELSE f.warning_runs || ' ' || @extschema@._alert_text(2) || ' run(s)'
               END
        FROM failures AS f
        JOIN config AS c ON c.job_name = f.job_name
        WHERE f.critical_runs > c.sensitivity OR f.warning_runs > 0
    ),
    running AS (
        SELECT r.job_id, r.job_name, r.pid
        FROM @extschema@._running_jobs() AS r
        JOIN config AS c ON c.job_name = r.job_name
    ),
    late AS (
        SELECT c.job_name,
               g.completed,
               EXISTS (SELECT FROM running AS r WHERE r.job_name = c.job_name) AS is_running,
               CASE WHEN g.completed IS NULL OR g.completed < now() - c.error_threshold THEN 3
                    WHEN g.completed < now() - c.warn_threshold THEN 2
               END AS code
        FROM config AS c
        -- The latest good run, found from the end of job_log_job_name_idx.
        LEFT JOIN LATERAL (
            SELECT coalesce(j.end_time, j.start_time) AS completed
            FROM @extschema@.job_log AS j
            WHERE j.job_name = c.job_name
                AND j.status = v_ok
                AND j.start_time >= now() - p_history
            ORDER BY j.start_time DESC
            LIMIT 1
        ) AS g ON true
    ),
    missing AS (
        SELECT m.code,
               CASE WHEN m.is_running THEN 'RUNNING' ELSE 'MISSING' END,
               m.job_name,
               CASE WHEN m.is_running THEN 'Currently running. ' ELSE '' END
               || CASE WHEN m.completed IS NULL
                       THEN 'Has not completed a run since highest configured monitoring'
                            ' time period'
                       ELSE 'Last completed run: ' || m.completed
                  END
        FROM late AS m
        WHERE m.code IS NOT NULL
    ),
    blocked AS (
        SELECT 2,
               'BLOCKED',
               r.job_name,
               format('Job ID %s is waiting for a lock held by process ID(s) %s',
                      r.job_id, array_to_string(pg_blocking_pids(r.pid), ', '))
               || coalesce(' since ' || w.waitstart, '')
        FROM running AS r
        JOIN pg_locks AS w ON w.pid = r.pid AND NOT w.granted
    )
    SELECT * FROM failed_unconfigured
    UNION ALL SELECT * FROM failed_configured
    UNION ALL SELECT * FROM missing
    UNION ALL SELECT * FROM blocked
    ORDER BY 1 DESC, 3, 2;

    IF NOT FOUND THEN
        alert_code := 1;
        alert_status := 'OK';
        job_name := NULL;
        alert_text := 'All jobs run successfully';
        RETURN NEXT;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.check_job_status(interval) FROM PUBLIC;
