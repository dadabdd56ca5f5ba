-- _dblink_mapping_single_row(): refuses a second row in dblink_mapping_jobmon, as 1.5.0 does.
CREATE OR REPLACE FUNCTION @extschema@._dblink_mapping_single_row()
    RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM @extschema@.dblink_mapping_jobmon) THEN
        RAISE EXCEPTION 'Only a single row may exist in this table';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._dblink_mapping_single_row() FROM PUBLIC;
