-- _dblink_mapping_changed(): tells every logging connection that its settings changed.
-- Each one listens on this channel; since any role may NOTIFY on it, a session only takes
-- it as a reason to compare the row's version (_dblink_mapping_version()) with its own.
CREATE OR REPLACE FUNCTION @extschema@._dblink_mapping_changed()
    RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('@config_channel@', '');
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._dblink_mapping_changed() FROM PUBLIC;
