-- check_job_status(): check_job_status(interval) over the longest threshold of the
-- active job_check_config rows; with none, only the failed runs are checked.
CREATE OR REPLACE FUNCTION @extschema@.check_job_status(
    OUT alert_code integer,
    OUT alert_status text,
    OUT job_name text,
    OUT alert_text text
)
    RETURNS SETOF record
    LANGUAGE sql
    STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.*
    FROM @extschema@.check_job_status(
        coalesce(
            (SELECT max(greatest(c.warn_threshold, c.error_threshold))
             FROM @extschema@.job_check_config AS c
             WHERE c.active),
            interval '0'
        )
    ) AS s
    -- In the order check_job_status(interval) returns them: worst first.
$$;
REVOKE ALL ON FUNCTION @extschema@.check_job_status() FROM PUBLIC;
