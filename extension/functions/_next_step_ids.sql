-- _next_step_ids(): p_count new step ids, in ascending order, taken in the caller's
-- session for the add_step calls that do not wait for their write (pg_jobmon.
-- wait_for_writes off): each returns its id at once, and the write that uses it
-- follows. A session takes them a few at a time, since each call of this function
-- costs as much as the rest of such an add_step; ids it never uses are gaps, as those
-- of failed writes are. nextval is not undone by the caller's rollback, so an id is
-- never given twice.
-- SECURITY DEFINER because callers have no grant on the sequence; it gives ids only.
CREATE OR REPLACE FUNCTION @extschema@._next_step_ids(p_count integer)
    RETURNS bigint[]
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_count NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'step ids are given 1 to 1000 at a time, not %', p_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN ARRAY(
        SELECT nextval('@extschema@.job_detail_step_id_seq'::regclass)
        FROM generate_series(1, p_count)
        ORDER BY 1
    );
END
$$;
REVOKE ALL ON FUNCTION @extschema@._next_step_ids(integer) FROM PUBLIC;
