-- The floor: the two statements of one step's log calls (add_step, then update_step),
-- as pgbench issues them with -M prepared, each committed on its own.
\set job_id :first_job + :client_id
INSERT INTO jobmon.job_detail (job_id, action, start_time)
    VALUES (:job_id, 'bench step', now()) RETURNING step_id \gset
UPDATE jobmon.job_detail
    SET end_time = now(), elapsed_time = extract(epoch FROM now() - start_time)::real,
        status = 'OK', message = 'done'
    WHERE step_id = :step_id;
