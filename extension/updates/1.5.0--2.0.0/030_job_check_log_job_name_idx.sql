-- New in 2.0.0: every close_job deletes its job name's rows of job_check_log by this index.
CREATE INDEX IF NOT EXISTS job_check_log_job_name_idx ON @extschema@.job_check_log (job_name);
