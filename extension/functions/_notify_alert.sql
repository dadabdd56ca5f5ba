-- _notify_alert(): sends one alert payload on the channel pg_jobmon_alert.
-- A full notification queue (a listener that stopped reading, in an open transaction)
-- would make the commit of the log write fail: past nine tenths full, the alert is
-- dropped with a warning in the server log instead. Listeners catch up from job_check_log.
CREATE OR REPLACE FUNCTION @extschema@._notify_alert(p_payload text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_notification_queue_usage() >= 0.9 THEN
        RAISE WARNING 'pg_jobmon alert not sent: the notification queue is almost full'
            USING DETAIL = format('Payload: %s', left(p_payload, 200)),
                  HINT = 'A session listening on this database is not reading its notifications.';
        RETURN;
    END IF;
    PERFORM pg_notify('pg_jobmon_alert', p_payload);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._notify_alert(text) FROM PUBLIC;
