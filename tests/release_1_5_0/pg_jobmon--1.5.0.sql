-- A pg_jobmon 1.5.0 installation, for the tests of ALTER EXTENSION pg_jobmon UPDATE.
-- It has the names of the real release: its tables, columns, constraints, indexes and
-- dump settings, its public functions with their parameter names, and its internal
-- functions and triggers (_autonomous_*, auth, dblink_limit_trig, job_monitor,
-- job_check_log_escalate_trig), which an update meets. Its log calls write through dblink,
-- one connection per call. The bodies are this project's own, written from 1.5.0's
-- documented behaviour. The tests install it into a private copy of the server's share
-- directory; it is never installed for real.

\echo Use "CREATE EXTENSION pg_jobmon VERSION '1.5.0'" to load this file. \quit

CREATE TABLE @extschema@.job_log (
    job_id bigserial CONSTRAINT job_log_job_id_pkey PRIMARY KEY,
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
    job_id bigint NOT NULL
        CONSTRAINT job_detail_job_id_fkey REFERENCES @extschema@.job_log (job_id)
        ON DELETE CASCADE,
    step_id bigserial CONSTRAINT job_detail_step_id_pkey PRIMARY KEY,
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
    job_name text CONSTRAINT job_check_config_job_name_pkey PRIMARY KEY,
    warn_threshold interval NOT NULL,
    error_threshold interval NOT NULL,
    active boolean NOT NULL DEFAULT false,
    sensitivity smallint NOT NULL DEFAULT 0,
    escalate integer
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_check_config', '');

CREATE TABLE @extschema@.job_status_text (
    alert_code integer CONSTRAINT job_status_text_alert_code_pkey PRIMARY KEY,
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

CREATE FUNCTION @extschema@.dblink_limit_trig()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF (SELECT count(*) FROM @extschema@.dblink_mapping_jobmon) > 1 THEN
        RAISE EXCEPTION 'Only a single row may exist in this table';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER dblink_limit_trig
    AFTER INSERT ON @extschema@.dblink_mapping_jobmon
    FOR EACH ROW EXECUTE FUNCTION @extschema@.dblink_limit_trig();

-- The connection string of the dblink connections, from the mapping row and the server.
CREATE FUNCTION @extschema@.auth()
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

-- The writes, made by the dblink connection: each commits on its own.
CREATE FUNCTION @extschema@._autonomous_add_job(p_owner text, p_job_name text, p_pid integer)
    RETURNS bigint
    LANGUAGE sql
AS $$
    INSERT INTO @extschema@.job_log (owner, job_name, start_time, pid)
    VALUES (p_owner, pg_catalog.upper(p_job_name), pg_catalog.now(), p_pid)
    RETURNING job_id
$$;

CREATE FUNCTION @extschema@._autonomous_add_step(p_job_id bigint, p_action text)
    RETURNS bigint
    LANGUAGE sql
AS $$
    INSERT INTO @extschema@.job_detail (job_id, action, start_time)
    VALUES (p_job_id, p_action, pg_catalog.now())
    RETURNING step_id
$$;

CREATE FUNCTION @extschema@._autonomous_update_step(
    p_step_id bigint, p_status text, p_message text
)
    RETURNS integer
    LANGUAGE sql
AS $$
    WITH updated AS (
        UPDATE @extschema@.job_detail
        SET end_time = pg_catalog.now(), status = p_status, message = p_message,
            elapsed_time = extract(epoch FROM pg_catalog.now() - start_time)
        WHERE step_id = p_step_id
        RETURNING 1
    )
    SELECT pg_catalog.count(*)::integer FROM updated
$$;

CREATE FUNCTION @extschema@._autonomous_fail_job(p_job_id bigint, p_fail_level integer)
    RETURNS integer
    LANGUAGE sql
AS $$
    WITH updated AS (
        UPDATE @extschema@.job_log
        SET end_time = pg_catalog.now(),
            status = (SELECT alert_text FROM @extschema@.job_status_text
                      WHERE alert_code = p_fail_level)
        WHERE job_id = p_job_id
        RETURNING 1
    )
    SELECT pg_catalog.count(*)::integer FROM updated
$$;

CREATE FUNCTION @extschema@._autonomous_close_job(p_job_id bigint)
    RETURNS integer
    LANGUAGE sql
AS $$
    SELECT @extschema@._autonomous_fail_job(p_job_id, 1)
$$;

-- The log calls: each sends its write over a new dblink connection. dblink is called by
-- its bare name: the search_path of these functions is set to dblink's schema below.
CREATE FUNCTION @extschema@.add_job(p_job_name text)
    RETURNS bigint
    LANGUAGE sql
AS $$
    SELECT r FROM dblink(@extschema@.auth(), pg_catalog.format(
        'SELECT @extschema@._autonomous_add_job(%L, %L, %s)',
        current_user, p_job_name, pg_catalog.pg_backend_pid())) AS t (r bigint)
$$;

CREATE FUNCTION @extschema@.add_step(p_job_id bigint, p_action text)
    RETURNS bigint
    LANGUAGE sql
AS $$
    SELECT r FROM dblink(@extschema@.auth(), pg_catalog.format(
        'SELECT @extschema@._autonomous_add_step(%s, %L)', p_job_id, p_action)) AS t (r bigint)
$$;

CREATE FUNCTION @extschema@.update_step(p_step_id bigint, p_status text, p_message text)
    RETURNS void
    LANGUAGE sql
AS $$
    SELECT r FROM dblink(@extschema@.auth(), pg_catalog.format(
        'SELECT @extschema@._autonomous_update_step(%s, %L, %L)',
        p_step_id, p_status, p_message)) AS t (r integer)
$$;

CREATE FUNCTION @extschema@.fail_job(p_job_id bigint, p_fail_level integer DEFAULT 3)
    RETURNS void
    LANGUAGE sql
AS $$
    SELECT r FROM dblink(@extschema@.auth(), pg_catalog.format(
        'SELECT @extschema@._autonomous_fail_job(%s, %s)', p_job_id, p_fail_level))
        AS t (r integer)
$$;

CREATE FUNCTION @extschema@.close_job(p_job_id bigint)
    RETURNS void
    LANGUAGE sql
AS $$
    SELECT r FROM dblink(@extschema@.auth(), pg_catalog.format(
        'SELECT @extschema@._autonomous_close_job(%s)', p_job_id)) AS t (r integer)
$$;

DO $$
DECLARE
    v_dblink name := (SELECT n.nspname FROM pg_catalog.pg_extension AS e
                      JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
                      WHERE e.extname = 'dblink');
    v_function text;
BEGIN
    FOREACH v_function IN ARRAY ARRAY['add_job(text)', 'add_step(bigint, text)',
        'update_step(bigint, text, text)', 'fail_job(bigint, integer)', 'close_job(bigint)']
    LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION @extschema@.%s SET search_path = %I',
                                  v_function, v_dblink);
    END LOOP;
END
$$;

CREATE FUNCTION @extschema@.cancel_job(p_job_id bigint)
    RETURNS boolean
    LANGUAGE sql
AS $$
    SELECT pg_catalog.pg_cancel_backend(pid) FROM @extschema@.job_log WHERE job_id = p_job_id
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
    DELETE FROM @extschema@.job_log WHERE start_time <= pg_catalog.now() - p_interval
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

-- job_check_log follows the status of each job: a good run clears the name's alerts, a
-- status that is an alert code's text adds one.
CREATE FUNCTION @extschema@.job_monitor()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    v_code integer := (SELECT t.alert_code FROM @extschema@.job_status_text AS t
                       WHERE t.alert_text = NEW.status LIMIT 1);
BEGIN
    IF v_code = 1 THEN
        DELETE FROM @extschema@.job_check_log WHERE job_name = NEW.job_name;
    ELSIF v_code IS NOT NULL THEN
        INSERT INTO @extschema@.job_check_log (job_id, job_name, alert_code)
        VALUES (NEW.job_id, NEW.job_name, v_code);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER trg_job_monitor
    AFTER UPDATE ON @extschema@.job_log
    FOR EACH ROW EXECUTE FUNCTION @extschema@.job_monitor();

-- Escalation: an alert is raised to at least the highest code alerted for its name.
CREATE FUNCTION @extschema@.job_check_log_escalate_trig()
    RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT FROM @extschema@.job_check_config AS c
               WHERE c.job_name = NEW.job_name AND c.escalate IS NOT NULL) THEN
        NEW.alert_code := greatest(NEW.alert_code, (
            SELECT pg_catalog.max(l.alert_code) FROM @extschema@.job_check_log AS l
            WHERE l.job_name = NEW.job_name));
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER job_check_log_escalate_trig
    BEFORE INSERT ON @extschema@.job_check_log
    FOR EACH ROW EXECUTE FUNCTION @extschema@.job_check_log_escalate_trig();
