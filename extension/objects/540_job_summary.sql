-- job_summary: one row per job name, for dashboards and metrics: its latest run, latest
-- good run and latest failure, its alert, and its runs over a window.
-- The window is the setting pg_jobmon.summary_window (1 day when not set; see
-- _summary_window()). A failure is a status that is the text of an alert code above 1,
-- or ESCALATED; a good run's status is the text of code 1.
-- Cheap on a log of millions of runs: every read of job_log is an index probe per name,
-- never a scan of the table (tests/test_job_summary.py shows the plan on 1,000,000 runs):
--   - the names by a skip scan of job_log_job_name_idx, one probe per name, not a
--     DISTINCT over every run;
--   - the latest run from the end of job_log_job_name_idx;
--   - the latest good run, and the latest run at each failure status, from the end of
--     job_log_job_name_status_idx: a name that never failed in a thousand runs does not
--     read those runs to find that out;
--   - the runs not ended, once for all names, by an index of runs without status;
--   - the alert, the highest code, from the end of job_check_log_job_name_idx;
--   - the window's runs from a range of job_log_job_name_idx (their number is the cost).
-- Read with the view owner's rights on the tables, so SELECT on the view is all a reader
-- needs beyond the functions that PUBLIC may execute (_summary_window, _live_backends).
CREATE VIEW @extschema@.job_summary AS
WITH RECURSIVE logged_names (job_name) AS (
    (SELECT j.job_name FROM @extschema@.job_log AS j ORDER BY j.job_name LIMIT 1)
    UNION ALL
    SELECT (SELECT j.job_name FROM @extschema@.job_log AS j
            WHERE j.job_name > n.job_name
            ORDER BY j.job_name
            LIMIT 1)
    FROM logged_names AS n
    WHERE n.job_name IS NOT NULL
),
names AS (
    SELECT n.job_name FROM logged_names AS n WHERE n.job_name IS NOT NULL
    UNION ALL
    -- Configured jobs that never ran: check_job_status() calls them missing.
    SELECT c.job_name
    FROM @extschema@.job_check_config AS c
    WHERE NOT EXISTS (SELECT FROM @extschema@.job_log AS j WHERE j.job_name = c.job_name)
),
settings AS (
    SELECT w.window_length,
        (SELECT t.alert_text FROM @extschema@.job_status_text AS t
         WHERE t.alert_code = 1) AS ok_text,
        ARRAY(SELECT t.alert_text FROM @extschema@.job_status_text AS t
              WHERE t.alert_code > 1
              UNION
              SELECT 'ESCALATED') AS failure_texts
    FROM @extschema@._summary_window() AS w (window_length)
),
-- _running_jobs()'s rule, written out so that only the runs not ended are read, once for
-- all names (by job_log_unended_idx or job_log_status_idx): a live session with the
-- job's pid that started no later than the job.
running AS (
    SELECT j.job_name, count(*)::integer AS running
    FROM @extschema@.job_log AS j
    JOIN @extschema@._live_backends() AS b
        ON b.pid = j.pid AND b.backend_start <= j.start_time
    WHERE j.status IS NULL
    GROUP BY j.job_name
)
SELECT n.job_name,
    latest.job_id AS last_job_id,
    latest.start_time AS last_start,
    latest.end_time AS last_end,
    latest.status AS last_status,
    success.end_time AS last_success,
    failure.end_time AS last_failure,
    failure.status AS last_failure_status,
    coalesce(running.running, 0) AS running,
    alert.alert_code,
    CASE WHEN alert.alert_code IS NOT NULL THEN
        coalesce((SELECT t.alert_text FROM @extschema@.job_status_text AS t
                  WHERE t.alert_code = alert.alert_code),
                 'alert code ' || alert.alert_code)
    END AS alert_text,
    s.window_length,
    recent.runs,
    recent.failures,
    recent.durations[1] AS duration_p50,
    recent.durations[2] AS duration_p95,
    recent.duration_max
FROM names AS n
CROSS JOIN settings AS s
LEFT JOIN LATERAL (
    SELECT j.job_id, j.start_time, j.end_time, j.status
    FROM @extschema@.job_log AS j
    WHERE j.job_name = n.job_name
    ORDER BY j.start_time DESC, j.job_id DESC
    LIMIT 1
) AS latest ON true
LEFT JOIN LATERAL (
    SELECT j.end_time
    FROM @extschema@.job_log AS j
    WHERE j.job_name = n.job_name AND j.status = s.ok_text
    ORDER BY j.start_time DESC, j.job_id DESC
    LIMIT 1
) AS success ON true
-- The latest run at each failure status (a handful), then the latest of those: an
-- index probe each, where one scan for all the statuses would read every failure.
LEFT JOIN LATERAL (
    SELECT f.end_time, f.status
    FROM pg_catalog.unnest(s.failure_texts) AS t (status)
    CROSS JOIN LATERAL (
        SELECT j.job_id, j.start_time, j.end_time, j.status
        FROM @extschema@.job_log AS j
        WHERE j.job_name = n.job_name AND j.status = t.status
        ORDER BY j.start_time DESC, j.job_id DESC
        LIMIT 1
    ) AS f
    ORDER BY f.start_time DESC, f.job_id DESC
    LIMIT 1
) AS failure ON true
LEFT JOIN running ON running.job_name = n.job_name
CROSS JOIN LATERAL (
    SELECT max(l.alert_code) AS alert_code
    FROM @extschema@.job_check_log AS l
    WHERE l.job_name = n.job_name
) AS alert
CROSS JOIN LATERAL (
    SELECT count(*) AS runs,
        count(*) FILTER (WHERE j.status = ANY (s.failure_texts)) AS failures,
        -- Runs not ended have no duration: percentile_cont and max leave NULLs out.
        pg_catalog.percentile_cont(ARRAY[0.5, 0.95]::double precision[])
            WITHIN GROUP (ORDER BY j.end_time - j.start_time) AS durations,
        max(j.end_time - j.start_time) AS duration_max
    FROM @extschema@.job_log AS j
    -- The window's start written out, not taken from settings: the planner then reads the
    -- setting when it estimates the range (a few runs a name, not a third of them), and
    -- does not take the view for a costly query that pays for JIT compilation.
    WHERE j.job_name = n.job_name AND j.start_time > now() - @extschema@._summary_window()
) AS recent
ORDER BY n.job_name;

COMMENT ON VIEW @extschema@.job_summary IS
    'One row per job name: latest run, latest good run and failure, alert, and the runs'
    ' of the window set by pg_jobmon.summary_window (1 day by default).';
