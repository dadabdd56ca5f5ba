-- The checks of job_check_config that 2.0.0 adds (see extension/objects/040). Rows kept
-- from 1.5.0 may break one: each check is added NOT VALID, then validated on its own. One
-- that the rows break stays NOT VALID, and a WARNING names it and the rows: new rows are
-- checked, and once the old ones are fixed, ALTER TABLE ... VALIDATE CONSTRAINT ends it.
ALTER TABLE @extschema@.job_check_config
    ADD CONSTRAINT job_check_config_job_name_upper
        CHECK (job_name = upper(job_name)) NOT VALID,
    ADD CONSTRAINT job_check_config_thresholds_ordered
        CHECK (warn_threshold > interval '0' AND error_threshold >= warn_threshold) NOT VALID,
    ADD CONSTRAINT job_check_config_sensitivity_not_negative
        CHECK (sensitivity >= 0) NOT VALID,
    ADD CONSTRAINT job_check_config_escalate_positive CHECK (escalate > 0) NOT VALID;

DO $update$
DECLARE
    v_check record;
    v_rows text;
BEGIN
    FOR v_check IN
        SELECT c.conname, pg_catalog.pg_get_constraintdef(c.oid) AS definition
        FROM pg_catalog.pg_constraint AS c
        WHERE c.conrelid = '@extschema@.job_check_config'::pg_catalog.regclass
            AND c.contype = 'c'
            AND NOT c.convalidated
        ORDER BY c.conname
    LOOP
        BEGIN
            EXECUTE pg_catalog.format(
                'ALTER TABLE @extschema@.job_check_config VALIDATE CONSTRAINT %I',
                v_check.conname
            );
        EXCEPTION WHEN check_violation THEN
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.string_agg(pg_catalog.quote_nullable(job_name), %L'
                ' ORDER BY job_name) FROM @extschema@.job_check_config WHERE NOT (%s)',
                ', ',
                pg_catalog.regexp_replace(v_check.definition, '^CHECK (.*?)( NOT VALID)?$', '\1')
            ) INTO v_rows;
            RAISE WARNING 'job_check_config rows break its new check %', v_check.conname
                USING DETAIL = pg_catalog.format('%s; job_name of those rows: %s',
                    v_check.definition, v_rows),
                HINT = 'New rows are checked. Fix or delete those rows, then run: '
                    'ALTER TABLE @extschema@.job_check_config VALIDATE CONSTRAINT '
                    || pg_catalog.quote_ident(v_check.conname);
        END;
    END LOOP;
END
$update$;
