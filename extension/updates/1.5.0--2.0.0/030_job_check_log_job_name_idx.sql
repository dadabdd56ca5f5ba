-- New in 2.0.0: every close_job deletes its job name's rows of job_check_log by this index,
-- and the view job_summary reads a name's highest alert code from the end of its range.
CREATE INDEX IF NOT EXISTS job_check_log_job_name_idx
    ON @extschema@.job_check_log (job_name, alert_code);
