-- From 2.0.0 pg_dump keeps the job history too, and where its sequences stand, so that a
-- restored database has all of it and new ids go on after the restored ones.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_log_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_detail', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_detail_step_id_seq', '');
