-- _dblink_mapping_changed(): tells every logging connection that its settings changed.
-- Each one listens on this channel and is replaced on its session's next log call.
CREATE OR REPLACE FUNCTION @extschema@._dblink_mapping_changed()
    RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('pg_jobmon_config', '');
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._dblink_mapping_changed() FROM PUBLIC;
