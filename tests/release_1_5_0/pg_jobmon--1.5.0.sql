-- A pg_jobmon 1.5.0 installation, for the tests of ALTER EXTENSION pg_jobmon UPDATE.
-- It has 1.5.0's interface: its tables, columns, indexes and dump settings, and its
-- functions with their signatures, which write through dblink, one connection per call.
-- The names of its internal functions and triggers are its own: the update must replace
-- them whatever they are called. The tests install it into a private copy of the server's
-- share directory; it is never installed for real.

\echo Use "CREATE EXTENSION pg_jobmon VERSION '1.5.0'" to load this file. \quit

CREATE TABLE @extschema@.job_log (
    job_id bigserial PRIMARY KEY,
    owner text NOT NULL,
    job_name text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    status text,
    pid integer NOT NULL
);
CREATE INDEX job_log_job_name_idx ON @extschema@.job_log (job_name);
CREATE INDEX job_log_start_time_idx ON @extschema@.job_log (start_time);
CREATE INDEX job_log_status_idx ON @extschema@.job_log (status);
CREATE INDEX job_log_pid_idx ON @extschema@.job_log (pid);

CREATE TABLE @extschema@.job_detail (
    job_id bigint NOT NULL REFERENCES @extschema@.job_log (job_id) ON DELETE CASCADE,
    step_id bigserial PRIMARY KEY,
    action text NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    elapsed_time real,
    status text,
    message text
);
CREATE INDEX job_detail_job_id_idx ON @extschema@.job_detail (job_id);

CREATE TABLE @extschema@.job_check_log (
    job_id bigint NOT NULL,
    job_name text NOT NULL,
    alert_code integer NOT NULL DEFAULT 3
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_check_log', '');

CREATE TABLE @extschema@.job_check_config (
    job_name text PRIMARY KEY,
    warn_threshold interval NOT NULL,
    error_threshold interval NOT NULL,
    active boolean NOT NULL DEFAULT false,
    sensitivity smallint NOT NULL DEFAULT 0,
    escalate integer
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_check_config', '');

CREATE TABLE @extschema@.job_status_text (
    alert_code integer PRIMARY KEY,
    alert_text text NOT NULL
);
INSERT INTO @extschema@.job_status_text (alert_code, alert_text) VALUES
    (1, 'OK'),
    (2, 'WARNING'),
    (3, 'CRITICAL');
SELECT pg_catalog.pg_extension_config_dump(
    '@extschema@.job_status_text', 'WHERE alert_code NOT IN (1, 2, 3)'
);

CREATE TABLE @extschema@.dblink_mapping_jobmon (
    username text,
    port text,
    pwd text,
    host text,
    hostaddr text
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dblink_mapping_jobmon', '');

CREATE FUNCTION @extschema@.mapping_single_row_guard()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF (SELECT count(*) FROM @extschema@.dblink_mapping_jobmon) > 0 THEN
        RAISE EXCEPTION 'Only a single row may exist in this table';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER mapping_single_row_guard
    BEFORE INSERT ON @extschema@.dblink_mapping_jobmon
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mapping_single_row_guard();

-- The connection string of the dblink connection, from the mapping row and the server.
CREATE FUNCTION @extschema@.connection_string()
    RETURNS text
    LANGUAGE sql
    STABLE
AS $$
    SELECT pg_catalog.concat_ws(' ',
        'dbname=' || pg_catalog.quote_literal(pg_catalog.current_database()),
        'port=' || pg_catalog.quote_literal(
            coalesce(m.port, pg_catalog.current_setting('port'))),
        'host=' || pg_catalog.quote_literal(coalesce(m.host, pg_catalog.split_part(
            pg_catalog.current_setting('unix_socket_directories'), ',', 1))),
        'user=' || pg_catalog.quote_literal(m.username),
        'password=' || pg_catalog.quote_literal(m.pwd))
    FROM (SELECT 1) AS one
    LEFT JOIN @extschema@.dblink_mapping_jobmon AS m ON true
$$;

-- Runs one statement on a new dblink connection, which commits it on its own.
CREATE FUNCTION @extschema@.autonomous(p_statement text)
    RETURNS text
    LANGUAGE plpgsql
AS $$
DECLARE
    v_dblink name := (
        SELECT n.nspname
        FROM pg_catalog.pg_extension AS e
        JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
        WHERE e.extname = 'dblink'
    );
    v_result text;
BEGIN
    EXECUTE pg_catalog.format('SELECT r FROM %I.dblink($1, $2) AS t (r text)', v_dblink)
        INTO v_result
        USING @extschema@.connection_string(), p_statement;
    RETURN v_result;
END
$$;

CREATE FUNCTION @extschema@.add_job(p_job_name text)
    RETURNS bigint
    LANGUAGE sql
AS $$
    SELECT @extschema@.autonomous(pg_catalog.format(
        'INSERT INTO @extschema@.job_log (owner, job_name, start_time, pid)'
        ' VALUES (%L, %L, %L, %s) RETURNING job_id',
        current_user, pg_catalog.upper(p_job_name), pg_catalog.clock_timestamp(),
        pg_catalog.pg_backend_pid()))::bigint
$$;

CREATE FUNCTION @extschema@.add_step(p_job_id bigint, p_action text)
    RETURNS bigint
    LANGUAGE sql
AS $$
    SELECT @extschema@.autonomous(pg_catalog.format(
        'INSERT INTO @extschema@.job_detail (job_id, action, start_time)'
        ' VALUES (%s, %L, %L) RETURNING step_id',
        p_job_id, p_action, pg_catalog.clock_timestamp()))::bigint
$$;

CREATE FUNCTION @extschema@.update_step(p_step_id bigint, p_status text, p_message text)
    RETURNS void
    LANGUAGE sql
AS $$
    SELECT @extschema@.autonomous(pg_catalog.format(
        'UPDATE @extschema@.job_detail SET end_time = %1$L, status = %2$L, message = %3$L,'
        ' elapsed_time = extract(epoch FROM %1$L::timestamptz - start_time)'
        ' WHERE step_id = %4$s RETURNING step_id',
        pg_catalog.clock_timestamp(), p_status, p_message, p_step_id));
$$;

CREATE FUNCTION @extschema@.end_job(p_job_id bigint, p_alert_code integer)
    RETURNS void
    LANGUAGE sql
AS $$
    SELECT @extschema@.autonomous(pg_catalog.format(
        'UPDATE @extschema@.job_log SET end_time = %L, status = %L'
        ' WHERE job_id = %s RETURNING job_id',
        pg_catalog.clock_timestamp(),
        (SELECT alert_text FROM @extschema@.job_status_text WHERE alert_code = p_alert_code),
        p_job_id));
$$;

CREATE FUNCTION @extschema@.close_job(p_job_id bigint)
    RETURNS void
    LANGUAGE sql
AS $$
    SELECT @extschema@.end_job(p_job_id, 1)
$$;

CREATE FUNCTION @extschema@.fail_job(p_job_id bigint, p_fail_level integer DEFAULT 3)
    RETURNS void
    LANGUAGE sql
AS $$
    SELECT @extschema@.end_job(p_job_id, p_fail_level)
$$;

CREATE FUNCTION @extschema@.cancel_job(v_job_id bigint)
    RETURNS boolean
    LANGUAGE sql
AS $$
    SELECT pg_catalog.pg_cancel_backend(pid) FROM @extschema@.job_log WHERE job_id = v_job_id
$$;

CREATE FUNCTION @extschema@.sql_step(p_job_id bigint, p_action text, p_sql text)
    RETURNS boolean
    LANGUAGE plpgsql
AS $$
DECLARE
    v_step_id bigint := @extschema@.add_step(p_job_id, p_action);
    v_rows bigint;
BEGIN
    EXECUTE p_sql;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM @extschema@.update_step(v_step_id, 'OK', 'Rows affected: ' || v_rows);
    RETURN true;
END
$$;

CREATE FUNCTION @extschema@.sql_job(p_job_name text, p_sql text)
    RETURNS text
    LANGUAGE plpgsql
AS $$
DECLARE
    v_job_id bigint := @extschema@.add_job(p_job_name);
BEGIN
    PERFORM @extschema@.sql_step(v_job_id, 'Running sql: ' || pg_catalog.quote_literal(p_sql),
        p_sql);
    PERFORM @extschema@.close_job(v_job_id);
    RETURN 'Job logged with job id: ' || v_job_id;
END
$$;

CREATE FUNCTION @extschema@.job_log_clear(p_interval interval)
    RETURNS void
    LANGUAGE sql
AS $$
    DELETE FROM @extschema@.job_log WHERE start_time < pg_catalog.now() - p_interval
$$;

CREATE FUNCTION @extschema@.show_job(p_name text, integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE sql
AS $$
    SELECT * FROM @extschema@.job_log WHERE job_name = pg_catalog.upper(p_name)
    ORDER BY job_id DESC LIMIT $2
$$;

CREATE FUNCTION @extschema@.show_job_like(p_name text, integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE sql
AS $$
    SELECT * FROM @extschema@.job_log WHERE job_name ~ pg_catalog.upper(p_name)
    ORDER BY job_id DESC LIMIT $2
$$;

CREATE FUNCTION @extschema@.show_job_status(p_status text, integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE sql
AS $$
    SELECT * FROM @extschema@.job_log WHERE status = p_status ORDER BY job_id DESC LIMIT $2
$$;

CREATE FUNCTION @extschema@.show_job_status(p_name text, p_status text, integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE sql
AS $$
    SELECT * FROM @extschema@.job_log
    WHERE job_name = pg_catalog.upper(p_name) AND status = p_status
    ORDER BY job_id DESC LIMIT $3
$$;

CREATE FUNCTION @extschema@.show_detail(p_id bigint)
    RETURNS SETOF @extschema@.job_detail
    LANGUAGE sql
AS $$
    SELECT * FROM @extschema@.job_detail WHERE job_id = p_id ORDER BY step_id
$$;

CREATE FUNCTION @extschema@.show_detail(p_name text, integer DEFAULT 1)
    RETURNS SETOF @extschema@.job_detail
    LANGUAGE sql
AS $$
    SELECT d.* FROM @extschema@.job_detail AS d
    WHERE d.job_id IN (SELECT job_id FROM @extschema@.show_job(p_name, $2))
    ORDER BY d.job_id DESC, d.step_id
$$;

CREATE FUNCTION @extschema@.show_running(integer DEFAULT 10)
    RETURNS SETOF @extschema@.job_log
    LANGUAGE sql
AS $$
    SELECT j.* FROM @extschema@.job_log AS j
    JOIN pg_catalog.pg_stat_activity AS a ON a.pid = j.pid
    WHERE j.status IS NULL
    ORDER BY j.job_id DESC LIMIT $1
$$;

-- Only the unconfigured rule: three failed runs in a row.
CREATE FUNCTION @extschema@.check_job_status(
    p_history interval,
    OUT alert_code integer,
    OUT alert_status text,
    OUT job_name text,
    OUT alert_text text
)
    RETURNS SETOF record
    LANGUAGE sql
AS $$
    WITH failed AS (
        SELECT l.job_name, pg_catalog.max(l.alert_code) AS alert_code
        FROM @extschema@.job_check_log AS l
        GROUP BY l.job_name
        HAVING pg_catalog.count(*) >= 3
    )
    SELECT f.alert_code, 'FAILED_RUN', f.job_name, '3 consecutive ' || t.alert_text || ' runs'
    FROM failed AS f JOIN @extschema@.job_status_text AS t USING (alert_code)
    UNION ALL
    SELECT 1, 'OK', NULL, 'All jobs run successfully'
    WHERE NOT EXISTS (SELECT FROM failed)
    ORDER BY 1 DESC, 3, 2
$$;

CREATE FUNCTION @extschema@.check_job_status(
    OUT alert_code integer,
    OUT alert_status text,
    OUT job_name text,
    OUT alert_text text
)
    RETURNS SETOF record
    LANGUAGE sql
AS $$
    SELECT * FROM @extschema@.check_job_status(interval '1 day')
$$;

-- job_check_log follows the status of each job.
CREATE FUNCTION @extschema@.job_status_watch()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.status = (SELECT alert_text FROM @extschema@.job_status_text WHERE alert_code = 1)
    THEN
        DELETE FROM @extschema@.job_check_log WHERE job_name = NEW.job_name;
    ELSIF NEW.status IS NOT NULL THEN
        INSERT INTO @extschema@.job_check_log (job_id, job_name, alert_code)
        SELECT NEW.job_id, NEW.job_name, coalesce(
            (SELECT t.alert_code FROM @extschema@.job_status_text AS t
             WHERE t.alert_text = NEW.status), 3);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER job_status_watch
    AFTER UPDATE ON @extschema@.job_log
    FOR EACH ROW EXECUTE FUNCTION @extschema@.job_status_watch();
