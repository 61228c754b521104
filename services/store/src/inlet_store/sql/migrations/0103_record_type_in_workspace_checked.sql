-- The records written before 0102 checked against their type's workspace (see 0102).
-- VALIDATE takes a lock that lets records be written while the table is read.
ALTER TABLE records VALIDATE CONSTRAINT records_entity_type_workspace_fkey;
