-- unreported_writes: sessions that ended with failed log writes that no call raised.
-- Under pg_jobmon.wait_for_writes off, a write's failure is raised by the session's next
-- log call; a session that ends before making one records the failures here, through
-- its logging connection, as it exits (see doc/pg_jobmon.md, Log calls that do not
-- wait). The view logging_sessions shows them beside the live sessions.
CREATE TABLE @extschema@.unreported_writes (
    ended_at timestamptz NOT NULL DEFAULT now(),
    caller_pid integer NOT NULL,
    caller_role text,
    writes_failed integer NOT NULL,
    first_error text
);

COMMENT ON TABLE @extschema@.unreported_writes IS
    'Sessions that ended with failed pg_jobmon log writes that no call raised, written by'
    ' their logging connections as they exited.';

-- Its rows are history, as the log's are: dumped with the database.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.unreported_writes', '');
