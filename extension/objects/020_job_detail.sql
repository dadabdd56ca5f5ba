-- job_detail: the steps of each job; add_step inserts one, update_step ends it.
-- The trailing error columns (new in 2.0.0, after 1.5.0's columns) keep the SQLSTATE,
-- detail, hint and context of an error that ended the step; NULL for any other step.
CREATE TABLE @extschema@.job_detail (
    job_id bigint NOT NULL
        CONSTRAINT job_detail_job_id_fkey REFERENCES @extschema@.job_log (job_id)
        ON DELETE CASCADE,
    step_id bigserial CONSTRAINT job_detail_step_id_pkey PRIMARY KEY,
    action text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    elapsed_time real,
    status text,
    message text,
    sqlstate text,
    error_detail text,
    error_hint text,
    error_context text
);

CREATE INDEX job_detail_job_id_idx ON @extschema@.job_detail (job_id);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_detail', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_detail_step_id_seq', '');
