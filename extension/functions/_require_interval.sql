-- _require_interval(): refuses a NULL or negative interval argument before anything is done.
CREATE OR REPLACE FUNCTION @extschema@._require_interval(p_value interval)
    RETURNS void
    LANGUAGE plpgsql
    IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_value IS NULL THEN
        RAISE EXCEPTION 'interval must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_value < interval '0' THEN
        RAISE EXCEPTION 'interval must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The interval given is %s.', p_value);
    END IF;
END
$$;
-- Executable by all: it computes only.
GRANT EXECUTE ON FUNCTION @extschema@._require_interval(interval) TO PUBLIC;
