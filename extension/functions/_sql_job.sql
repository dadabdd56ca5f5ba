-- _sql_job(): sql_job's work, given the search_path of sql_job's caller.
CREATE OR REPLACE FUNCTION @extschema@._sql_job(p_job_name text, p_sql text, p_search_path text)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name text := @extschema@._job_name(p_job_name);
    -- sql_job's advisory locks: this key class, and the job name's hash as the key.
    v_lock_class constant integer := hashtext('pg_jobmon sql_job');
    v_job_id bigint;
    v_step_id bigint;
    v_succeeded boolean;
BEGIN
    PERFORM @extschema@._require_text(p_sql, 'sql');
    v_job_id := @extschema@.add_job(v_name);
    IF NOT pg_try_advisory_lock(v_lock_class, hashtext(v_name)) THEN
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
        -- A session-level lock outlives the transaction: let go of it on every way out,
        -- and end the job rather than leave it looking like it still runs.
        PERFORM pg_advisory_unlock(v_lock_class, hashtext(v_name));
        PERFORM @extschema@._fail_job_quietly(v_job_id, NULL::bigint, SQLERRM);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(v_lock_class, hashtext(v_name));
    IF v_succeeded THEN
        RETURN format('Job logged with job id: %s', v_job_id);
    END IF;
    RETURN format('Job ID %s failed. See job_detail table for more details', v_job_id);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._sql_job(text, text, text) FROM PUBLIC;
