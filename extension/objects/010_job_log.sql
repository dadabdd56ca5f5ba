-- job_log: one row per job run; add_job inserts it, close_job and fail_job end it.
CREATE TABLE @extschema@.job_log (
    job_id bigserial CONSTRAINT job_log_job_id_pkey PRIMARY KEY,
    owner text NOT NULL,
    job_name text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    status text,
    pid integer NOT NULL
);

-- By name, then time: a job's latest runs (show_job, check_job_status) are read from its end.
CREATE INDEX job_log_job_name_idx ON @extschema@.job_log (job_name, start_time);
CREATE INDEX job_log_start_time_idx ON @extschema@.job_log (start_time);
CREATE INDEX job_log_status_idx ON @extschema@.job_log (status);
CREATE INDEX job_log_pid_idx ON @extschema@.job_log (pid);

-- The history is dumped, and so is the sequence position: restored ids go on after it.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_log_job_id_seq', '');
