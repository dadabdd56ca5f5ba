-- job_log: one row per job run; add_job inserts it, close_job and fail_job end it.
CREATE TABLE @extschema@.job_log (
    job_id bigserial CONSTRAINT job_log_job_id_pkey PRIMARY KEY,
    owner text NOT NULL,
    job_name text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    status text,
    pid integer NOT NULL,
    -- True when pid does not tell whether the job's session lives, so that this server
    -- never judges it: the session ran on another server than this log's (a standby
    -- logging to its primary, say), or the job was written to from another backend than
    -- the one that added it (a transaction-mode pooler). Added in 2.0.0, after 1.5.0's
    -- columns.
    remote_session boolean NOT NULL DEFAULT false
);

-- By name, then time: a job's latest runs (show_job, check_job_status) are read from its end.
CREATE INDEX job_log_job_name_idx ON @extschema@.job_log (job_name, start_time);
CREATE INDEX job_log_start_time_idx ON @extschema@.job_log (start_time);
CREATE INDEX job_log_status_idx ON @extschema@.job_log (status);
CREATE INDEX job_log_pid_idx ON @extschema@.job_log (pid);
-- The jobs not yet ended, by name: add_job looks here for dead runs of its job name.
CREATE INDEX job_log_unended_idx ON @extschema@.job_log (job_name) WHERE status IS NULL;
-- By name, status, then time, for ended runs: the view job_summary reads a name's latest
-- good run and its latest run at each failure status from the end of their range, where
-- job_log_job_name_idx would read back through every run of a name that never failed
-- (or never succeeded). Runs not ended are left out, so add_job writes nothing here;
-- close_job and fail_job write one entry (about 5 us).
CREATE INDEX job_log_job_name_status_idx ON @extschema@.job_log (job_name, status, start_time)
    WHERE status IS NOT NULL;

-- The history is dumped, and so is the sequence position: restored ids go on after it.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_log_job_id_seq', '');
