-- dblink_mapping_jobmon: at most one row, the settings of the logging connection.
-- The name is 1.5.0's; no dblink is involved.
CREATE TABLE @extschema@.dblink_mapping_jobmon (
    username text,
    port text,
    pwd text,
    host text,
    hostaddr text,
    -- Not in 1.5.0. libpq's target_session_attrs: with several hosts listed, which of
    -- them to log to ('read-write' follows the primary through a failover).
    target_session_attrs text
        CONSTRAINT dblink_mapping_jobmon_target_session_attrs_known CHECK (
            target_session_attrs IN (
                'any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'
            )
        )
);

-- Backs the single-row trigger against two concurrent first inserts.
CREATE UNIQUE INDEX dblink_mapping_jobmon_single_row_idx
    ON @extschema@.dblink_mapping_jobmon ((true));

SELECT pg_catalog.pg_extension_config_dump('@extschema@.dblink_mapping_jobmon', '');
