-- logging_sessions: each session that holds a logging connection, and that connection.
-- For a DBA to read (connection slots, waiting writes): matched by application_name,
-- which any session may take, so it decides nothing (see _logging_sessions()).
CREATE VIEW @extschema@.logging_sessions AS
    SELECT s.datname, s.caller_pid, s.caller_role, s.caller_application_name,
        s.logger_pid, s.logger_role, s.logger_start, s.write_waiting, s.wait_event
    FROM @extschema@._logging_sessions() AS s;

COMMENT ON VIEW @extschema@.logging_sessions IS
    'Sessions holding a pg_jobmon logging connection, matched by application_name: for'
    ' reading only, since any session may take a logging connection''s name.';
