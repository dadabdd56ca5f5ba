-- Triggers of job_log: job_check_log follows every change of a job's status.
-- Not on INSERT: rows restored by pg_restore come with their job_check_log rows.
CREATE TRIGGER job_log_status_changed
    BEFORE UPDATE OF status ON @extschema@.job_log
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION @extschema@._job_log_status_changed();
