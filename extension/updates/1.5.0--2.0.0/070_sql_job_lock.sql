-- sql_job_lock: new in 2.0.0, as in a new install (see extension/objects/070).
CREATE TABLE @extschema@.sql_job_lock (
    job_name text CONSTRAINT sql_job_lock_job_name_pkey PRIMARY KEY
);
