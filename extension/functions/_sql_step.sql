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
    v_sqlstate text;
    v_message text;
    v_detail text;
    v_hint text;
    v_context text;
BEGIN
    PERFORM @extschema@._require_text(p_sql, 'sql');
    v_step_id := @extschema@.add_step(p_job_id, p_action);
    BEGIN
        -- A subtransaction: a failing statement rolls back alone, and the caller's
        -- transaction goes on.
        v_rows := @extschema@._run_sql(p_sql, p_search_path);
    EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
        GET STACKED DIAGNOSTICS
            v_sqlstate = RETURNED_SQLSTATE,
            v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL,
            v_hint = PG_EXCEPTION_HINT,
            v_context = PG_EXCEPTION_CONTEXT;
        -- The context inside the statement only: from _run_sql's line on it is
        -- pg_jobmon's own calls and the caller's, the same for every failure.
        v_context := regexp_replace(
            v_context,
            '(^|\n)PL/pgSQL function ([^\n]*\.)?_run_sql\(text,text\) line \d+ at EXECUTE(\n.*)?$',
            ''
        );
        -- The texts may quote the statement or data, in characters that the logging
        -- connection cannot take: they are escaped, never an error here.
        BEGIN
            PERFORM @extschema@._fail_step(
                p_job_id, v_step_id, 'CRITICAL', NULL,
                'ERROR: ' || @extschema@._loggable_text(v_message), v_sqlstate,
                @extschema@._loggable_text(v_detail), @extschema@._loggable_text(v_hint),
                @extschema@._loggable_text(v_context)
            );
        EXCEPTION WHEN OTHERS THEN
            IF v_sqlstate NOT IN ('57014', 'P0004') THEN
                RAISE;  -- this write's error: sql_step cannot log the step
            END IF;
            RAISE WARNING 'could not log step id % as failed: %', v_step_id, SQLERRM;
        END;
        -- Cancels, timeouts and failed assertions (57014, P0004) stop the caller, with
        -- the error unchanged. Any other error fails the step only, and the caller's
        -- transaction goes on.
        IF v_sqlstate IN ('57014', 'P0004') THEN
            RAISE;
        END IF;
        RETURN false;
    END;
    PERFORM @extschema@.update_step(v_step_id, 'OK', 'Rows affected: ' || v_rows);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._sql_step(bigint, text, text, text) FROM PUBLIC;
