-- _logging_sessions(): the rows of the view logging_sessions, read from pg_stat_activity.
-- SECURITY DEFINER because pg_stat_activity hides the state, wait event and start time of
-- other roles' sessions from ordinary roles, and a monitor must see every logging
-- connection. It gives the columns below only: no query text, no client address.
-- A logging connection is matched to its caller by application_name, which any session
-- may set to anything: a session that takes such a name shows up here too. So the rows
-- are for people to read and decide nothing. A caller must have started before its
-- logging connection, which leaves out a session that reused a dead caller's pid.
-- The prefix is plpython_src/names.py's LOGGER_APPLICATION_PREFIX.
CREATE OR REPLACE FUNCTION @extschema@._logging_sessions()
    RETURNS TABLE (
        datname name,
        caller_pid integer,
        caller_role name,
        caller_application_name text,
        logger_pid integer,
        logger_role name,
        logger_start timestamptz,
        write_waiting boolean,
        wait_event text
    )
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.datname, c.pid, c.usename, c.application_name,
        l.pid, l.usename, l.backend_start,
        l.state = 'active' AND l.wait_event_type = 'Lock',
        CASE WHEN l.state = 'active' THEN l.wait_event_type || ': ' || l.wait_event END
    FROM pg_catalog.pg_stat_activity AS l
    JOIN pg_catalog.pg_stat_activity AS c
        ON l.application_name = 'pg_jobmon logger for backend ' || c.pid
        AND c.datid = l.datid
        AND c.pid <> l.pid
        AND c.backend_start <= l.backend_start
    WHERE l.backend_type = 'client backend'
$$;
-- Not for PUBLIC: it tells which roles' log writes wait, and since when, which
-- pg_stat_activity tells only to the roles that may see those sessions. A role that
-- reads the view needs EXECUTE on it too (README, Privileges, the monitor block).
REVOKE ALL ON FUNCTION @extschema@._logging_sessions() FROM PUBLIC;
