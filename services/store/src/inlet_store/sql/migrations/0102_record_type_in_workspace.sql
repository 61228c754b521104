-- A record references its type and workspace together, (entity_type_id, workspace_id) →
-- entity_types (id, workspace_id), instead of each apart: one check per inserted record
-- instead of two, and no lock on the workspace's row, which every writer of the workspace
-- took FOR KEY SHARE for every record (a 1,000-item array: 1,000 times, shared with the
-- other writers). It also says what was only true by construction: a record's type is in
-- the record's workspace. A workspace's deletion still takes its records, through its
-- entity types (ON DELETE CASCADE both ways).
ALTER TABLE entity_types ADD CONSTRAINT entity_types_id_workspace_key UNIQUE (id, workspace_id);
-- NOT VALID: new rows are checked from now on; the existing ones are checked by 0103, in a
-- transaction of its own that does not hold up writes to records meanwhile.
ALTER TABLE records ADD CONSTRAINT records_entity_type_workspace_fkey
    FOREIGN KEY (entity_type_id, workspace_id) REFERENCES entity_types (id, workspace_id)
    ON DELETE CASCADE NOT VALID;
ALTER TABLE records DROP CONSTRAINT records_entity_type_id_fkey;
ALTER TABLE records DROP CONSTRAINT records_workspace_id_fkey;
