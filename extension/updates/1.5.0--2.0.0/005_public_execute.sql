-- 1.5.0 left its functions executable by PUBLIC; 2.0.0 grants them to no one but the
-- roles named. Say so when PUBLIC could log until now, before it goes (REVOKE, below).
DO $update$
BEGIN
    IF pg_catalog.has_function_privilege(
        'public', '@extschema@.add_job(text)'::pg_catalog.regprocedure, 'EXECUTE'
    ) THEN
        RAISE WARNING 'pg_jobmon''s functions are no longer executable by PUBLIC'
            USING DETAIL = 'Roles granted EXECUTE on them keep it, with what the new version'
                ' needs besides. Any other role that runs jobs cannot log until granted.',
            HINT = 'For each role that runs jobs: GRANT USAGE ON SCHEMA @extschema@ TO role;'
                ' GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA @extschema@ TO role;';
    END IF;
END
$update$;
