-- sql_job_lock: one row per job name run by sql_job(); a run holds its row locked.
-- The lock is a row lock, not an advisory lock with a published key: no role but the
-- extension's owner has any grant here, and a role needs UPDATE to lock a row, so only
-- _lock_sql_job() can take it. Its rows are names only, made anew as runs need them.
CREATE TABLE @extschema@.sql_job_lock (
    job_name text CONSTRAINT sql_job_lock_job_name_pkey PRIMARY KEY
);
