-- job_check_log: failed runs not yet followed by a good one, read by check_job_status().
-- The job_log trigger keeps it: a failure adds its job's row, a success deletes the rows
-- of that job name (by this index, on every close_job). The index holds the alert code
-- too, so that a name's current alert, its highest code (the view job_summary), is read
-- from the end of its range: a name that keeps failing has a row for every failure.
CREATE TABLE @extschema@.job_check_log (
    job_id bigint NOT NULL,
    job_name text NOT NULL,
    alert_code integer NOT NULL DEFAULT 3
);

CREATE INDEX job_check_log_job_name_idx ON @extschema@.job_check_log (job_name, alert_code);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_check_log', '');
