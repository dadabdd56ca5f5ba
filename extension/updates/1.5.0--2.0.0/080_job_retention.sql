-- job_retention: new in 2.0.0, as in a new install (see extension/objects/080). It starts
-- empty: an update deletes no history until a DBA adds a row.
CREATE TABLE @extschema@.job_retention (
    job_name text CONSTRAINT job_retention_job_name_pkey PRIMARY KEY,
    keep_succeeded interval,
    keep_failed interval,
    keep_runs integer,
    CONSTRAINT job_retention_job_name_upper CHECK (job_name = upper(job_name)),
    CONSTRAINT job_retention_keep_succeeded_positive CHECK (keep_succeeded > interval '0'),
    CONSTRAINT job_retention_keep_failed_positive CHECK (keep_failed > interval '0'),
    CONSTRAINT job_retention_keep_runs_positive CHECK (keep_runs > 0)
);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_retention', '');
