-- _summary_window(): the window of the view job_summary, from the setting
-- pg_jobmon.summary_window: 1 day when it is not set or empty, else its value as an
-- interval longer than zero. A value that is no such interval is refused with the
-- setting's name, not with the bare cast's message, so that a dashboard's error says
-- what to fix.
CREATE OR REPLACE FUNCTION @extschema@._summary_window()
    RETURNS interval
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_setting constant text := current_setting('pg_jobmon.summary_window', true);
    v_window interval;
BEGIN
    IF coalesce(v_setting, '') = '' THEN
        RETURN interval '1 day';
    END IF;
    BEGIN
        v_window := v_setting::interval;
    EXCEPTION WHEN data_exception THEN
        v_window := NULL;  -- refused below, with the setting's name
    END;
    IF v_window IS NULL OR v_window <= interval '0' THEN
        RAISE EXCEPTION 'invalid value for parameter "pg_jobmon.summary_window": "%"', v_setting
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The window of job_summary is an interval longer than zero.',
                  HINT = 'Set it to an interval such as ''7 days'', or reset it for 1 day.';
    END IF;
    RETURN v_window;
END
$$;
-- Executable by all: it reads a setting of the caller's session and computes only.
GRANT EXECUTE ON FUNCTION @extschema@._summary_window() TO PUBLIC;
