-- job_check_config: jobs that check_job_status() watches beyond consecutive failures.
CREATE TABLE @extschema@.job_check_config (
    job_name text PRIMARY KEY,
    warn_threshold interval NOT NULL,
    error_threshold interval NOT NULL,
    active boolean NOT NULL DEFAULT false,
    sensitivity smallint NOT NULL DEFAULT 0,
    escalate integer
);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_check_config', '');
