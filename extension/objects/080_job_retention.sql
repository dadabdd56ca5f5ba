-- job_retention: how long the log keeps the runs of a job name, applied as its jobs end
-- (see _apply_retention()). No row keeps everything, as 1.5.0 did. A row with job_name
-- '*' applies to every job name without a row of its own. A NULL limit is no limit.
--   keep_succeeded  how long after its end a run that ended with alert code 1's text stays
--   keep_failed     the same for a run that ended with any other status
--   keep_runs       at most this many newest runs of the name (by start_time) stay
-- A run past a limit goes only when nothing depends on it: see _apply_retention().
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
