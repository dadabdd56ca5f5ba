-- check_job_status(interval): what a Nagios-style check asks every minute. One row per
-- problem, worst first (alert code, then job name, then alert status), or one all-clear
-- row (1, 'OK', NULL, 'All jobs run successfully'). The answers are 1.5.0's:
--   FAILED_RUN  job_check_log rows not yet cleared by a good run, counted per alert
--               code. A job with no job_check_config row alerts at 3 of them at one
--               code; a job with an active row when they pass its sensitivity; a job
--               whose row is inactive never.
--   MISSING     an active configured job whose latest run started within p_history is
--               older than its warn (2) or error (3) threshold, whatever its status, or
--               that has no run there at all (3). A run that ended within the threshold
--               counts from its end: it is not missing although it started before.
--   RUNNING     the same row, while a run of the job is still going: late, but on its way.
--   BLOCKED     the same row, while that run's session waits for a lock.
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
BEGIN
    PERFORM @extschema@._require_interval(p_history);
    SELECT max(greatest(c.warn_threshold, c.error_threshold)) INTO v_longest
    FROM @extschema@.job_check_config AS c
    WHERE c.active;
    IF p_history < v_longest THEN
        RAISE EXCEPTION 'Input argument must be greater than or equal to the longest'
                        ' threshold in job_check_config table'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The argument is %s; the longest active threshold is %s.',
                                  p_history, v_longest),
                  HINT = 'Without an argument, check_job_status() uses the longest threshold.';
    END IF;

    RETURN QUERY
    WITH config AS (
        SELECT c.job_name, c.warn_threshold, c.error_threshold, c.sensitivity
        FROM @extschema@.job_check_config AS c
        WHERE c.active
    ),
    failures AS (
        SELECT l.job_name, l.alert_code, t.alert_text, count(*) AS runs
        FROM @extschema@.job_check_log AS l
        JOIN @extschema@.job_status_text AS t ON t.alert_code = l.alert_code
        GROUP BY l.job_name, l.alert_code, t.alert_text
    ),
    failed_unconfigured AS (
        SELECT f.alert_code AS code,
               'FAILED_RUN' AS status,
               f.job_name,
               '3 consecutive ' || f.alert_text || ' runs' AS text
        FROM failures AS f
        WHERE f.runs >= 3
            -- An inactive row silences its job: it is configured, just not checked.
            AND NOT EXISTS (SELECT FROM @extschema@.job_check_config AS c
                            WHERE c.job_name = f.job_name)
    ),
    failed_configured AS (
        SELECT f.alert_code,
               'FAILED_RUN',
               f.job_name,
               f.runs || ' ' || f.alert_text || ' run(s)'
        FROM failures AS f
        JOIN config AS c ON c.job_name = f.job_name
        WHERE f.runs > c.sensitivity
    ),
    latest AS (
        SELECT c.job_name,
               c.warn_threshold,
               -- From the end of job_log_job_name_idx: the latest run started in the window.
               CASE WHEN r.last_seen IS NULL OR r.last_seen < now() - c.error_threshold THEN 3
                    WHEN r.last_seen < now() - c.warn_threshold THEN 2
               END AS code
        FROM config AS c
        LEFT JOIN LATERAL (
            SELECT coalesce(j.end_time, j.start_time) AS last_seen
            FROM @extschema@.job_log AS j
            WHERE j.job_name = c.job_name
                AND j.start_time > now() - p_history
            ORDER BY j.start_time DESC
            LIMIT 1
        ) AS r ON true
    ),
    late AS (
        SELECT m.code,
               m.job_name,
               (SELECT max(j.end_time)
                FROM @extschema@.job_log AS j
                WHERE j.job_name = m.job_name
                    AND j.start_time > now() - p_history) AS completed,
               w.job_id AS running_job,
               w.blockers,
               w.waitstart
        FROM latest AS m
        -- A run of the job that is still going and has been for longer than the warn
        -- threshold; the one waiting for a lock first, if any is.
        LEFT JOIN LATERAL (
            SELECT r.job_id, b.blockers, b.waitstart
            FROM @extschema@._running_jobs() AS r
            LEFT JOIN LATERAL (
                SELECT pg_blocking_pids(r.pid) AS blockers, min(k.waitstart) AS waitstart
                FROM pg_locks AS k
                WHERE k.pid = r.pid AND NOT k.granted
                HAVING count(*) > 0
            ) AS b ON true
            WHERE r.job_name = m.job_name
                AND r.start_time > now() - p_history
                AND r.start_time <= now() - m.warn_threshold
            ORDER BY b.blockers IS NULL, r.start_time DESC
            LIMIT 1
        ) AS w ON true
        WHERE m.code IS NOT NULL
    ),
    late_rows AS (
        SELECT l.code,
               CASE WHEN l.blockers IS NOT NULL THEN 'BLOCKED'
                    WHEN l.running_job IS NOT NULL THEN 'RUNNING'
                    ELSE 'MISSING'
               END,
               l.job_name,
               CASE WHEN l.blockers IS NOT NULL
                    THEN format('Job ID %s is waiting for a lock held by process ID(s) %s',
                                l.running_job, array_to_string(l.blockers, ', '))
                         || coalesce(' since ' || l.waitstart, '')
                    WHEN l.running_job IS NOT NULL
                    THEN coalesce('Currently running. Last completed run: ' || l.completed,
                                  'Currently running. Job has not had a completed run within'
                                  ' configured monitoring time period.')
                    ELSE coalesce('Last completed run: ' || l.completed,
                                  'Has not completed a run since highest configured'
                                  ' monitoring time period')
               END
        FROM late AS l
    )
    SELECT least(p.code, 3), p.status, p.job_name, p.text
    FROM (
        SELECT * FROM failed_unconfigured
        UNION ALL SELECT * FROM failed_configured
        UNION ALL SELECT * FROM late_rows
    ) AS p
    -- Custom codes above 3 report as 3, the highest of them first.
    ORDER BY least(p.code, 3) DESC, p.job_name, p.status, p.code DESC;

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
