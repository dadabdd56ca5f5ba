-- job_detail gains its trailing error columns, after 1.5.0's (see extension/objects/020).
-- Adding nullable columns with no default rewrites no row: quick on any history.
ALTER TABLE @extschema@.job_detail
    ADD COLUMN sqlstate text,
    ADD COLUMN error_detail text,
    ADD COLUMN error_hint text,
    ADD COLUMN error_context text;
