-- _is_logging_session(): whether this session may do the logging connection's own work
-- (retention): it logged in as the role dblink_mapping_jobmon names, or as a superuser
-- (the logging connection's role when the row names none: libpq's default user, the
-- server's OS user). session_user, not current_user: SET ROLE and SECURITY DEFINER
-- change the one, never the other, and only a superuser may change session_user.
-- SECURITY DEFINER because the row may hold a password; it tells a yes or a no only.
CREATE OR REPLACE FUNCTION @extschema@._is_logging_session()
    RETURNS boolean
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                   WHERE r.rolname = session_user AND r.rolsuper)
        OR EXISTS (SELECT FROM @extschema@.dblink_mapping_jobmon AS m
                   WHERE m.username = session_user)
$$;
-- Run by _apply_retention() with its owner's rights; no caller needs it.
REVOKE ALL ON FUNCTION @extschema@._is_logging_session() FROM PUBLIC;
