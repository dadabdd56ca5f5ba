-- logging_sessions: each session that holds a logging connection, and that connection;
-- then each session that ended with failed log writes that no call raised (the rows of
-- unreported_writes, with ended_at set). For a DBA to read (connection slots, waiting
-- writes, errors nobody saw): live sessions are matched by application_name, which any
-- session may take, so it decides nothing (see _logging_sessions()).
CREATE VIEW @extschema@.logging_sessions AS
    SELECT s.datname, s.caller_pid, s.caller_role, s.caller_application_name,
        s.logger_pid, s.logger_role, s.logger_start, s.write_waiting, s.wait_event,
        NULL::timestamptz AS ended_at, NULL::integer AS writes_unreported,
        NULL::text AS first_error
    FROM @extschema@._logging_sessions() AS s
    UNION ALL
    SELECT pg_catalog.current_database(), u.caller_pid, u.caller_role::name, NULL,
        NULL, NULL, NULL, NULL, NULL,
        u.ended_at, u.writes_failed,
        u.first_call || ': ' || u.first_error
            || coalesce(' (SQLSTATE ' || u.first_sqlstate || ')', '')
    FROM @extschema@.unreported_writes AS u;

COMMENT ON VIEW @extschema@.logging_sessions IS
    'Sessions holding a pg_jobmon logging connection, matched by application_name: for'
    ' reading only, since any session may take a logging connection''s name; then sessions'
    ' that ended with failed log writes that no call raised.';
