-- _next_job_id(): a new job id, taken in the caller's session for an add_job that does
-- not wait for its write (pg_jobmon.wait_for_writes off): the id is returned at once, and
-- the write that uses it follows. nextval is not undone by the caller's rollback, so an
-- id is never given twice.
-- SECURITY DEFINER because callers have no grant on the sequence; it gives ids only.
-- PL/pgSQL rather than SQL: a SQL function that cannot be inlined is planned at every
-- call, twice the cost.
CREATE OR REPLACE FUNCTION @extschema@._next_job_id()
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN nextval('@extschema@.job_log_job_id_seq'::regclass);
END
$$;
REVOKE ALL ON FUNCTION @extschema@._next_job_id() FROM PUBLIC;
