-- _record_unreported_writes(): a row of unreported_writes, written through a logging
-- connection as its session exits with failed writes that no call raised.
-- SECURITY DEFINER because the logging role, whichever it is, has no grant on the
-- table. It adds rows only, and they decide nothing: any role may add one, as any role
-- may take a logging connection's application_name in logging_sessions.
CREATE OR REPLACE FUNCTION @extschema@._record_unreported_writes(
    p_caller_pid integer,
    p_caller_role text,
    p_writes_failed integer,
    p_first_error text
)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO @extschema@.unreported_writes (
        caller_pid, caller_role, writes_failed, first_error
    ) VALUES (p_caller_pid, p_caller_role, p_writes_failed, p_first_error);
END
$$;
-- Executable by all: the logging connection runs it, and its role is not known when the
-- extension is installed (as for _retention_applies()).
GRANT EXECUTE ON FUNCTION @extschema@._record_unreported_writes(integer, text, integer, text)
    TO PUBLIC;
