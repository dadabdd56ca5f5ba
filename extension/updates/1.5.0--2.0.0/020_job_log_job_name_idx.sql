-- job_log's index on job_name becomes job_log_job_name_idx on (job_name, start_time), so
-- that a job's latest runs (show_job, check_job_status) are read from the end of the index.
-- The old one goes whatever its name: a plain index on job_name alone.
DO $update$
DECLARE
    v_index regclass;
BEGIN
    FOR v_index IN
        SELECT i.indexrelid::pg_catalog.regclass
        FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_attribute AS a
            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = '@extschema@.job_log'::pg_catalog.regclass
            AND i.indnatts = 1
            AND NOT i.indisunique
            AND i.indexprs IS NULL
            AND i.indpred IS NULL
            AND a.attname = 'job_name'
    LOOP
        EXECUTE pg_catalog.format('DROP INDEX %s', v_index);
    END LOOP;
END
$update$;

CREATE INDEX job_log_job_name_idx ON @extschema@.job_log (job_name, start_time);
