-- A role granted EXECUTE on one of the functions that write the log keeps the right to
-- log: in 2.0.0 those functions call internal ones that PUBLIC may not execute, and such a
-- role gets EXECUTE on them, as a new install's job runner has it (README, Privileges).
-- So does fail_job_with_error(), the logging call new in 2.0.0 for exception handlers:
-- it writes nothing that update_step and fail_job could not.
DO $update$
DECLARE
    v_writers constant text[] := ARRAY[
        'add_job(text)',
        'add_step(bigint, text)',
        'update_step(bigint, text, text)',
        'close_job(bigint)',
        'fail_job(bigint, integer)',
        'cancel_job(bigint)',
        'sql_step(bigint, text, text)',
        'sql_job(text, text)',
        'job_log_clear(interval)'
    ];
    v_extension oid := (
        SELECT e.oid FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_jobmon'
    );
    v_grant record;
BEGIN
    FOR v_grant IN
        WITH member AS (
            SELECT p.*
            FROM pg_catalog.pg_proc AS p
            JOIN pg_catalog.pg_depend AS d
                ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
            WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                AND d.refobjid = v_extension
                AND d.deptype = 'e'
        ),
        writer_role AS (
            SELECT DISTINCT a.grantee
            FROM member AS p, pg_catalog.aclexplode(p.proacl) AS a
            WHERE pg_catalog.format('%s(%s)', p.proname, pg_catalog.oidvectortypes(p.proargtypes))
                    = ANY (v_writers)
                AND a.privilege_type = 'EXECUTE'
                AND a.grantee NOT IN (0, p.proowner)
        ),
        internal AS (
            SELECT p.oid
            FROM member AS p
            WHERE (p.proname LIKE '\_%' OR p.proname = 'fail_job_with_error')
                AND p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype
                AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
        )
        SELECT internal.oid::pg_catalog.regprocedure AS function_name,
            writer_role.grantee::pg_catalog.regrole AS role_name
        FROM internal, writer_role
        ORDER BY 1, 2
    LOOP
        EXECUTE pg_catalog.format(
            'GRANT EXECUTE ON FUNCTION %s TO %s', v_grant.function_name, v_grant.role_name
        );
    END LOOP;
END
$update$;
