-- _alert_payload(): the JSON text that _job_log_status_changed() sends on pg_jobmon_alert.
-- NOTIFY refuses a payload of 8000 bytes or more, and that refusal would fail the log
-- write that sent it: when the whole object is too long, the text fields (the only ones
-- of unbounded length) are cut to fit, and truncated says so. Their sizes are measured
-- as JSON writes them, escapes included (a control character takes six bytes).
CREATE OR REPLACE FUNCTION @extschema@._alert_payload(
    p_event text,
    p_job_id bigint,
    p_job_name text,
    p_owner text,
    p_status text,
    p_alert_code integer,
    p_alert_text text,
    p_previous_alert_code integer,
    p_failures integer
)
    RETURNS text
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- NOTIFY's limit is 8000 bytes, its terminator included.
    c_limit constant integer := 7999;
    v_texts text[] := ARRAY[p_job_name, p_owner, p_status, p_alert_text];
    v_sizes integer[];
    v_payload text;
    v_budget integer;
    v_left integer;
    v_share integer;
    v_low integer;
    v_high integer;
    v_mid integer;
    v_i integer;
    v_truncated boolean := false;
BEGIN
    LOOP
        v_payload := json_build_object(
            'event', p_event,
            'job_id', p_job_id,
            'job_name', v_texts[1],
            'owner', v_texts[2],
            'status', v_texts[3],
            'alert_code', p_alert_code,
            'alert_text', v_texts[4],
            'previous_alert_code', p_previous_alert_code,
            'failures', p_failures,
            'truncated', v_truncated
        )::text;
        IF octet_length(v_payload) <= c_limit OR v_truncated THEN
            RETURN v_payload;
        END IF;
        -- The bytes left for the four texts once the rest is written; each gets a fair
        -- share, and what a short one leaves unused goes to the longer ones.
        v_budget := c_limit - octet_length(json_build_object(
            'event', p_event, 'job_id', p_job_id, 'job_name', '', 'owner', '',
            'status', '', 'alert_code', p_alert_code, 'alert_text', '',
            'previous_alert_code', p_previous_alert_code, 'failures', p_failures,
            'truncated', true
        )::text);
        SELECT array_agg(coalesce(octet_length(to_json(t)::text) - 2, 0) ORDER BY i)
        INTO v_sizes
        FROM unnest(v_texts) WITH ORDINALITY AS u(t, i);
        v_left := 4;
        FOR v_i IN SELECT i::integer FROM unnest(v_sizes) WITH ORDINALITY AS s(size, i)
                   ORDER BY size, i LOOP
            v_share := v_budget / v_left;
            IF v_sizes[v_i] > v_share THEN
                -- The longest prefix whose JSON form fits the share.
                v_low := 0;
                v_high := least(length(v_texts[v_i]), v_share);
                WHILE v_low < v_high LOOP
                    v_mid := (v_low + v_high + 1) / 2;
                    IF octet_length(to_json(left(v_texts[v_i], v_mid))::text) - 2
                            <= v_share THEN
                        v_low := v_mid;
                    ELSE
                        v_high := v_mid - 1;
                    END IF;
                END LOOP;
                v_texts[v_i] := left(v_texts[v_i], v_low);
                v_sizes[v_i] := octet_length(to_json(v_texts[v_i])::text) - 2;
            END IF;
            v_budget := v_budget - v_sizes[v_i];
            v_left := v_left - 1;
        END LOOP;
        v_truncated := true;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._alert_payload(
    text, bigint, text, text, text, integer, text, integer, integer
) FROM PUBLIC;
