-- job_log's index of ended runs by name, status and time, as in a new install (see
-- extension/objects/010): the view job_summary finds a name's latest good run and latest
-- failure from its end.
CREATE INDEX job_log_job_name_status_idx ON @extschema@.job_log (job_name, status, start_time)
    WHERE status IS NOT NULL;
