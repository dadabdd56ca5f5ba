-- 1.5.0's code goes, whatever its names: the triggers on the extension's tables that run
-- one of its functions, and every function of the extension that the new version does not
-- define (pg_jobmon.update_functions). A function that it does define stays, to be
-- replaced in place below: its grants, and the views that use it, are kept.
DO $update$
DECLARE
    v_extension oid := (
        SELECT e.oid FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_jobmon'
    );
    v_kept text[] := pg_catalog.string_to_array(
        pg_catalog.current_setting('pg_jobmon.update_functions'), ';'
    );
    v_trigger record;
    v_function record;
BEGIN
    FOR v_trigger IN
        SELECT t.tgname, t.tgrelid::pg_catalog.regclass AS table_name
        FROM pg_catalog.pg_trigger AS t
        JOIN pg_catalog.pg_depend AS member_table
            ON member_table.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND member_table.objid = t.tgrelid
        JOIN pg_catalog.pg_depend AS member_function
            ON member_function.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
            AND member_function.objid = t.tgfoid
        WHERE NOT t.tgisinternal
            AND member_table.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
            AND member_table.refobjid = v_extension
            AND member_table.deptype = 'e'
            AND member_function.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
            AND member_function.refobjid = v_extension
            AND member_function.deptype = 'e'
        ORDER BY 2, 1
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_trigger.tgname, v_trigger.table_name);
    END LOOP;

    FOR v_function IN
        SELECT
            p.oid::pg_catalog.regprocedure AS signature,
            pg_catalog.format('%s(%s)', p.proname, pg_catalog.oidvectortypes(p.proargtypes))
                AS identity
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_depend AS member
            ON member.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
            AND member.objid = p.oid
        WHERE member.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
            AND member.refobjid = v_extension
            AND member.deptype = 'e'
        ORDER BY 2
    LOOP
        IF NOT v_function.identity = ANY (v_kept) THEN
            EXECUTE pg_catalog.format('DROP FUNCTION %s', v_function.signature);
        END IF;
    END LOOP;
END
$update$;
