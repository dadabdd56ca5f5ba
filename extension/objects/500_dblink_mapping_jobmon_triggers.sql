-- Triggers of dblink_mapping_jobmon: its single row, and telling sessions it changed.
CREATE TRIGGER dblink_mapping_jobmon_single_row
    BEFORE INSERT ON @extschema@.dblink_mapping_jobmon
    FOR EACH ROW EXECUTE FUNCTION @extschema@._dblink_mapping_single_row();

CREATE TRIGGER dblink_mapping_jobmon_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.dblink_mapping_jobmon
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._dblink_mapping_changed();
