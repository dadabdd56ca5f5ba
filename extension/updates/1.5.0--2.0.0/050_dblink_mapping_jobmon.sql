-- dblink_mapping_jobmon gains its trailing column target_session_attrs (see
-- extension/objects/060), and the index that backs its single-row trigger.
ALTER TABLE @extschema@.dblink_mapping_jobmon
    ADD COLUMN target_session_attrs text
        CONSTRAINT dblink_mapping_jobmon_target_session_attrs_known CHECK (
            target_session_attrs IN (
                'any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'
            )
        );

CREATE UNIQUE INDEX IF NOT EXISTS dblink_mapping_jobmon_single_row_idx
    ON @extschema@.dblink_mapping_jobmon ((true));
