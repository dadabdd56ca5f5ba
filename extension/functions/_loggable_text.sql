-- _loggable_text(): text that the logging connection can take, for text that must be
-- logged whatever it holds (an error's message). The logging connection talks UTF8:
-- each character with no UTF-8 equivalent (a byte of a SQL_ASCII database that is not
-- UTF-8, a vendor character of EUC_JP) becomes its bytes in the database's encoding,
-- each written \xNN. The rest of the text is kept as it is.
CREATE OR REPLACE FUNCTION @extschema@._loggable_text(p_text text)
    RETURNS text
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_result text := '';
    v_at integer := 1;
    v_length integer;
    v_take integer;
BEGIN
    IF p_text IS NULL OR getdatabaseencoding() = 'UTF8' THEN
        RETURN p_text;
    END IF;
    BEGIN
        PERFORM convert_to(p_text, 'UTF8');
        RETURN p_text;
    EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
        NULL;  -- some character does not convert: find it below
    END;
    WHILE v_at <= length(p_text) LOOP
        -- In SQL_ASCII each byte counts as a character, and a UTF-8 character takes up
        -- to four of them: the shortest run from here that converts is one character.
        v_take := 0;
        FOR v_length IN 1..4 LOOP
            BEGIN
                PERFORM convert_to(substr(p_text, v_at, v_length), 'UTF8');
                v_take := v_length;
                EXIT;
            EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
                NULL;
            END;
        END LOOP;
        IF v_take > 0 THEN
            v_result := v_result || substr(p_text, v_at, v_take);
            v_at := v_at + v_take;
        ELSE
            v_result := v_result || regexp_replace(
                encode(textsend(substr(p_text, v_at, 1)), 'hex'), '..', '\\x\&', 'g'
            );
            v_at := v_at + 1;
        END IF;
    END LOOP;
    RETURN v_result;
END
$$;
-- Executable by all: it computes only.
GRANT EXECUTE ON FUNCTION @extschema@._loggable_text(text) TO PUBLIC;
