-- job_check_log: failed runs not yet followed by a good one, read by check_job_status().
CREATE TABLE @extschema@.job_check_log (
    job_id bigint NOT NULL,
    job_name text NOT NULL,
    alert_code integer NOT NULL DEFAULT 3
);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_check_log', '');
