-- job_log tells the jobs of sessions on other servers from this server's own, and finds
-- the jobs not yet ended by name, as in a new install (see extension/objects/010).
-- Rows logged by 1.5.0 count as this server's: their sessions are judged by pid and
-- start time, as show_running() has always judged them.
ALTER TABLE @extschema@.job_log ADD COLUMN remote_session boolean NOT NULL DEFAULT false;

CREATE INDEX job_log_unended_idx ON @extschema@.job_log (job_name) WHERE status IS NULL;
