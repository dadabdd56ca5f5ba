-- _dblink_mapping_version(): the version of dblink_mapping_jobmon's row, 'none' without one.
-- Every change of the row writes a new row version, with the xmin of its transaction:
-- sessions compare it with the version they opened their logging connection with.
-- SECURITY DEFINER because the row may hold a password; this tells a transaction ID only.
CREATE OR REPLACE FUNCTION @extschema@._dblink_mapping_version()
    RETURNS text
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT m.xmin::text FROM @extschema@.dblink_mapping_jobmon AS m LIMIT 1),
        'none'
    )
$$;
-- Executable by all: callers and logging roles read it, and it tells nothing secret.
GRANT EXECUTE ON FUNCTION @extschema@._dblink_mapping_version() TO PUBLIC;
