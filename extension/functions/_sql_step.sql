-- _sql_step(): sql_step's work, given the search_path of sql_step's caller.
CREATE OR REPLACE FUNCTION @extschema@._sql_step(
    p_job_id bigint,
    p_action text,
    p_sql text,
    p_search_path text
)
    RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_step_id bigint;
    v_rows bigint;
BEGIN
    PERFORM @extschema@._require_text(p_sql, 'sql');
    v_step_id := @extschema@.add_step(p_job_id, p_action);
    BEGIN
        -- A subtransaction: a failing statement rolls back alone, and the caller's
        -- transaction goes on.
        v_rows := @extschema@._run_sql(p_sql, p_search_path);
    EXCEPTION
        WHEN query_canceled OR assert_failure THEN
            -- Cancels, timeouts and failed assertions stop the caller: the step is
            -- closed as failed, and the error goes on unchanged.
            BEGIN
                PERFORM @extschema@.update_step(
                    v_step_id, 'CRITICAL', 'ERROR: ' || @extschema@._loggable_text(SQLERRM)
                );
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'could not log step id % as failed: %', v_step_id, SQLERRM;
            END;
            RAISE;
        WHEN OTHERS THEN
            -- The message may quote the statement or data, in characters that the
            -- logging connection cannot take: they are escaped, never an error here.
            PERFORM @extschema@.update_step(
                v_step_id, 'CRITICAL', 'ERROR: ' || @extschema@._loggable_text(SQLERRM)
            );
            RETURN false;
    END;
    PERFORM @extschema@.update_step(v_step_id, 'OK', 'Rows affected: ' || v_rows);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._sql_step(bigint, text, text, text) FROM PUBLIC;
