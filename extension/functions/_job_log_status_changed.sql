-- _job_log_status_changed(): keeps job_check_log in step with the status of job_log rows,
-- and escalates repeated alerts.
-- A BEFORE trigger, so that an escalation can set the status to ESCALATED in the same
-- row version instead of updating the row again. It fires for every way a status is
-- written: close_job and fail_job on the logging connection, and a DBA's own UPDATE.
--   - The text of alert code 1 clears the job name's rows: a good run ends the alert.
--   - Any other status adds one row for the job, with the code whose text it is (the
--     highest, if texts repeat); a text of no code counts as critical (3).
--   - A job whose status changes again loses its previous row first: one row per job.
-- Escalation, for jobs whose active job_check_config row sets escalate: the level is the
-- highest code already alerted for the name, or the job's own code if higher. Once
-- escalate rows sit at that level, the next failure goes to the next code above it in
-- job_status_text (custom codes past 3 included). A failure recorded above its own code
-- gets an ALERT ESCALATION step and the status ESCALATED.
CREATE OR REPLACE FUNCTION @extschema@._job_log_status_changed()
    RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_code integer;
    v_reached integer;
    v_level integer;
    v_escalate integer;
    v_at_level bigint;
    v_message text;
BEGIN
    IF OLD.status IS NOT NULL THEN
        DELETE FROM @extschema@.job_check_log AS l WHERE l.job_id = NEW.job_id;
    END IF;
    IF NEW.status IS NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.status = (SELECT t.alert_text FROM @extschema@.job_status_text AS t
                     WHERE t.alert_code = 1) THEN
        DELETE FROM @extschema@.job_check_log AS l WHERE l.job_name = NEW.job_name;
        RETURN NEW;
    END IF;
    SELECT coalesce(max(t.alert_code), 3) INTO v_code
    FROM @extschema@.job_status_text AS t
    WHERE t.alert_text = NEW.status;

    SELECT c.escalate INTO v_escalate
    FROM @extschema@.job_check_config AS c
    WHERE c.job_name = NEW.job_name AND c.active;
    v_level := v_code;
    IF v_escalate IS NOT NULL THEN
        -- Two failures of one job name at once would count the same rows.
        PERFORM pg_advisory_xact_lock(hashtext('pg_jobmon escalation'), hashtext(NEW.job_name));
        SELECT greatest(max(l.alert_code), v_code) INTO v_reached
        FROM @extschema@.job_check_log AS l
        WHERE l.job_name = NEW.job_name;
        SELECT count(*) INTO v_at_level
        FROM @extschema@.job_check_log AS l
        WHERE l.job_name = NEW.job_name AND l.alert_code = v_reached;
        v_level := v_reached;
        IF v_at_level >= v_escalate THEN
            SELECT coalesce(min(t.alert_code), v_reached) INTO v_level
            FROM @extschema@.job_status_text AS t
            WHERE t.alert_code > v_reached;
        END IF;
    END IF;
    IF v_level > v_code THEN
        IF v_level > v_reached THEN
            v_message := format('Alert raised from %s to %s after %s alerts at %s',
                                @extschema@._alert_text(v_reached),
                                @extschema@._alert_text(v_level),
                                v_at_level,
                                @extschema@._alert_text(v_reached));
        ELSE
            v_message := format('Alert kept at %s, the level this job has reached',
                                @extschema@._alert_text(v_level));
        END IF;
        INSERT INTO @extschema@.job_detail (
            job_id, action, start_time, end_time, elapsed_time, status, message
        ) VALUES (
            NEW.job_id, 'ALERT ESCALATION', now(), now(), 0, 'ESCALATE', v_message
        );
        NEW.status := 'ESCALATED';
    END IF;
    INSERT INTO @extschema@.job_check_log (job_id, job_name, alert_code)
    VALUES (NEW.job_id, NEW.job_name, v_level);
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._job_log_status_changed() FROM PUBLIC;
