-- _alert_text(): the text of an alert code, or a stand-in naming a code that has none.
-- Reads job_status_text with the caller's rights.
CREATE OR REPLACE FUNCTION @extschema@._alert_text(p_alert_code integer)
    RETURNS text
    LANGUAGE sql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT t.alert_text FROM @extschema@.job_status_text AS t
         WHERE t.alert_code = p_alert_code),
        'alert code ' || p_alert_code
    )
$$;
-- Executable by all: it reads job_status_text with the caller's own rights.
GRANT EXECUTE ON FUNCTION @extschema@._alert_text(integer) TO PUBLIC;
