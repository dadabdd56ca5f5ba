-- _sql_job(): sql_job's work, given the search_path of sql_job's caller.
CREATE OR REPLACE FUNCTION @extschema@._sql_job(p_job_name text, p_sql text, p_search_path text)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := @extschema@._job_name(p_job_name);
    v_job_id bigint;
    v_step_id bigint;
    v_succeeded boolean;
BEGIN
    PERFORM @extschema@._require_text(p_sql, 'sql');
    v_job_id := @extschema@.add_job(v_name);
    -- A row lock on the name, held until this transaction ends (see _lock_sql_job).
    IF NOT @extschema@._lock_sql_job(v_name) THEN
        v_step_id := @extschema@.add_step(v_job_id, 'Concurrent run check');
        PERFORM @extschema@.update_step(
            v_step_id,
            'WARNING',
            format('Job %s is already running in another session: this run did nothing', v_name)
        );
        PERFORM @extschema@.fail_job(v_job_id, 2);
        RETURN format('Job ID %s not run: job %s is already running concurrently', v_job_id, v_name);
    END IF;
    BEGIN
        v_succeeded := @extschema@._sql_step(
            v_job_id,
            'Running sql: ' || quote_literal(@extschema@._loggable_text(p_sql)),
            p_sql,
            p_search_path
        );
        IF v_succeeded THEN
            PERFORM @extschema@.close_job(v_job_id);
        ELSE
            PERFORM @extschema@.fail_job(v_job_id, 3);
        END IF;
    EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
        -- End the job rather than leave it looking like it still runs. The lock goes
        -- with the transaction that the error ends.
        PERFORM @extschema@._fail_job_quietly(v_job_id, NULL::bigint, SQLERRM);
        RAISE;
    END;
    IF v_succeeded THEN
        RETURN format('Job logged with job id: %s', v_job_id);
    END IF;
    RETURN format('Job ID %s failed. See job_detail table for more details', v_job_id);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._sql_job(text, text, text) FROM PUBLIC;
