-- _require_text(): refuses a NULL or blank argument, naming it, before anything is logged.
CREATE OR REPLACE FUNCTION @extschema@._require_text(p_value text, p_what text)
    RETURNS void
    LANGUAGE plpgsql
    IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_value IS NULL THEN
        RAISE EXCEPTION '% must not be null', p_what USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_value ~ '^\s*$' THEN
        RAISE EXCEPTION '% must not be empty', p_what USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
-- Executable by all: it computes only.
GRANT EXECUTE ON FUNCTION @extschema@._require_text(text, text) TO PUBLIC;
