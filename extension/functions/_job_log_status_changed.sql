-- _job_log_status_changed(): keeps job_check_log in step with the status of job_log rows,
-- and escalates repeated alerts, with 1.5.0's rules.
-- A BEFORE trigger, so that an escalation can set the status to ESCALATED in the same
-- row version instead of updating the row again. It fires for every way a status is
-- written: close_job and fail_job on the logging connection, and a DBA's own UPDATE.
--   - The text of alert code 1 clears the job name's rows: a good run ends the alert.
--   - The text of any other code adds one row for the job, with that code (the highest,
--     if texts repeat). A status that is no code's text adds nothing, as in 1.5.0.
--   - A job whose status changes again loses its previous row first: one row per job.
-- Escalation, for jobs whose active job_check_config row sets escalate: a failure is
-- recorded at least at the highest code already alerted for the name. When it is the
-- escalate-th alert at that highest code, it goes to the next code above in
-- job_status_text (custom codes past 3 included), gets an ALERT ESCALATION step, and
-- its status becomes ESCALATED. The first alert of a name is never escalated (1.5.0).
-- Each change of the name's alert is also sent on the channel pg_jobmon_alert (payload:
-- _alert_payload()): raised when a failure adds a row, escalated when it is escalated,
-- cleared when the change leaves the name with no rows where it had some. NOTIFY goes
-- out at commit, so a listener hears of a status if and only if its write committed.
-- A good run of a name with no rows sends nothing, and pays one index probe as before.
-- SECURITY DEFINER: locking a job_check_config row needs UPDATE on it, which neither a
-- logging role of its own nor a DBA who updates job_log need have.
CREATE OR REPLACE FUNCTION @extschema@._job_log_status_changed()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_code integer;
    v_reached integer;
    v_at_level bigint;
    v_level integer;
    v_next integer;
    v_escalate integer;
    v_removed bigint := 0;
    v_previous integer;
    v_failures integer;
BEGIN
    IF OLD.status IS NOT NULL THEN
        -- The job's own row goes; its code counts among the name's previous alerts.
        WITH removed AS (
            DELETE FROM @extschema@.job_check_log AS l WHERE l.job_id = NEW.job_id
            RETURNING l.alert_code
        )
        SELECT max(r.alert_code), count(*) INTO v_previous, v_removed FROM removed AS r;
    END IF;
    IF NEW.status = (SELECT t.alert_text FROM @extschema@.job_status_text AS t
                     WHERE t.alert_code = 1) THEN
        -- The codes come back from the DELETE itself: the good run of a name without
        -- alerts costs what it did before this notification existed.
        WITH removed AS (
            DELETE FROM @extschema@.job_check_log AS l WHERE l.job_name = NEW.job_name
            RETURNING l.alert_code
        )
        SELECT greatest(v_previous, max(r.alert_code)), v_removed + count(*)
        INTO v_previous, v_removed
        FROM removed AS r;
        IF v_removed > 0 THEN
            PERFORM @extschema@._notify_alert(@extschema@._alert_payload(
                'cleared', NEW.job_id, NEW.job_name, NEW.owner, NEW.status,
                1, NEW.status, v_previous, 0));
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status IS NOT NULL THEN
        SELECT max(t.alert_code) INTO v_code
        FROM @extschema@.job_status_text AS t
        WHERE t.alert_text = NEW.status;
    END IF;
    IF v_code IS NULL THEN
        -- A status that is no alert's (set by hand, or back to NULL) only takes the job's
        -- own row away: the last one of its name clears the alert.
        IF v_removed > 0 AND NOT EXISTS (
            SELECT FROM @extschema@.job_check_log AS l WHERE l.job_name = NEW.job_name
        ) THEN
            PERFORM @extschema@._notify_alert(@extschema@._alert_payload(
                'cleared', NEW.job_id, NEW.job_name, NEW.owner, NEW.status,
                1, @extschema@._alert_text(1), v_previous, 0));
        END IF;
        RETURN NEW;
    END IF;
    SELECT greatest(v_previous, max(l.alert_code)), count(*) + 1
    INTO v_previous, v_failures
    FROM @extschema@.job_check_log AS l WHERE l.job_name = NEW.job_name;

    v_level := v_code;
    -- Two failures of one job name at once would count the same rows: the job's
    -- escalating job_check_config row is locked until this write commits. A row lock,
    -- which only roles that may update job_check_config can take, not an advisory lock
    -- with a known key, which any role could hold to stall this failure's record.
    SELECT c.escalate INTO v_escalate
    FROM @extschema@.job_check_config AS c
    WHERE c.job_name = NEW.job_name AND c.active AND c.escalate IS NOT NULL
    FOR NO KEY UPDATE;
    IF v_escalate IS NOT NULL THEN
        SELECT l.alert_code, count(*) INTO v_reached, v_at_level
        FROM @extschema@.job_check_log AS l
        WHERE l.job_name = NEW.job_name
        GROUP BY l.alert_code
        ORDER BY l.alert_code DESC
        LIMIT 1;
        IF FOUND THEN
            v_level := greatest(v_reached, v_code);
            IF v_at_level + 1 >= v_escalate THEN
                SELECT min(t.alert_code) INTO v_next
                FROM @extschema@.job_status_text AS t
                WHERE t.alert_code > v_level;
            END IF;
        END IF;
    END IF;
    IF v_next IS NOT NULL THEN
        -- 1.5.0's text, its spelling included: checks may match it.
        INSERT INTO @extschema@.job_detail (
            job_id, action, start_time, end_time, elapsed_time, status, message
        ) VALUES (
            NEW.job_id, 'ALERT ESCALATION', now(), now(), 0, 'ESCALATE',
            format('Job has alerted at level %s in excess of the escalate value configured'
                   ' for this job (%s). Alert code value has been escaleted to: %s',
                   v_level, v_escalate, v_next)
        );
        NEW.status := 'ESCALATED';
        v_level := v_next;
    END IF;
    INSERT INTO @extschema@.job_check_log (job_id, job_name, alert_code)
    VALUES (NEW.job_id, NEW.job_name, v_level);
    PERFORM @extschema@._notify_alert(@extschema@._alert_payload(
        CASE WHEN v_next IS NULL THEN 'raised' ELSE 'escalated' END,
        NEW.job_id, NEW.job_name, NEW.owner, NEW.status,
        v_level, @extschema@._alert_text(v_level), v_previous, v_failures));
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._job_log_status_changed() FROM PUBLIC;
