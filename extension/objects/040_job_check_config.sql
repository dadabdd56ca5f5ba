-- job_check_config: jobs that check_job_status() watches beyond consecutive failures.
-- The checks refuse rows that could never match or alert: job names are stored
-- upper-cased by add_job, and a threshold or count below zero means nothing.
CREATE TABLE @extschema@.job_check_config (
    job_name text CONSTRAINT job_check_config_job_name_pkey PRIMARY KEY,
    warn_threshold interval NOT NULL,
    error_threshold interval NOT NULL,
    active boolean NOT NULL DEFAULT false,
    sensitivity smallint NOT NULL DEFAULT 0,
    escalate integer,
    CONSTRAINT job_check_config_job_name_upper CHECK (job_name = upper(job_name)),
    CONSTRAINT job_check_config_thresholds_ordered
        CHECK (warn_threshold > interval '0' AND error_threshold >= warn_threshold),
    CONSTRAINT job_check_config_sensitivity_not_negative CHECK (sensitivity >= 0),
    CONSTRAINT job_check_config_escalate_positive CHECK (escalate > 0)
);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_check_config', '');
