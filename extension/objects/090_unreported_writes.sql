-- unreported_writes: sessions that ended with failed log writes that no call raised.
-- Under pg_jobmon.wait_for_writes off, a write's failure is raised by the session's next
-- log call; a session that ends before making one records the failures here, through
-- its logging connection, as it exits (see doc/pg_jobmon.md, Log calls that do not
-- wait). The view logging_sessions shows them beside the live sessions.
-- It holds what failed, never a call's arguments: the monitor role reads it.
CREATE TABLE @extschema@.unreported_writes (
    ended_at timestamptz NOT NULL DEFAULT now(),
    caller_pid integer NOT NULL,
    caller_role text,
    writes_failed integer NOT NULL,
    -- The first failure: its call (add_job, add_step, update_step), its SQLSTATE (NULL
    -- for a write that changed no row) and the server's message (plpython_src/
    -- statements.py's UNREPORTED_MESSAGE_LIMIT).
    first_call text,
    first_sqlstate text,
    first_error text
        CONSTRAINT unreported_writes_first_error_bounded CHECK (char_length(first_error) <= 200)
);

COMMENT ON TABLE @extschema@.unreported_writes IS
    'Sessions that ended with failed pg_jobmon log writes that no call raised, written by'
    ' their logging connections as they exited; the latest 1000.';

-- It keeps the latest 1000 rows: each INSERT deletes the older ones. A rule rather than
-- a trigger: its DELETE runs with the table owner's rights, so the logging role needs
-- INSERT only, and no role can run it on its own. COPY (a restore) does not fire it.
CREATE RULE unreported_writes_keep_latest AS
    ON INSERT TO @extschema@.unreported_writes
    DO ALSO DELETE FROM @extschema@.unreported_writes AS u
    WHERE u.ctid IN (
        SELECT o.ctid FROM @extschema@.unreported_writes AS o
        ORDER BY o.ended_at DESC
        OFFSET 1000
    );

-- Its rows are history, as the log's are: dumped with the database.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.unreported_writes', '');
