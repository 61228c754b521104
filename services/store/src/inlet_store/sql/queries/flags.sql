-- The unique flags in force, read inside the apply transaction (see inlet_store.flags).

-- name: share_entity_type
-- FOR KEY SHARE conflicts with the FOR UPDATE a change of field flags takes, so a push
-- and a flag change never interleave: whichever locks second waits for the other's commit.
SELECT id FROM entity_types WHERE id = %(entity_type_id)s FOR KEY SHARE;

-- name: unique_fields_now
-- A separate statement from the lock on purpose: under READ COMMITTED it takes a fresh
-- snapshot after any wait, so it sees a flag change that committed while we waited.
SELECT slug FROM fields WHERE entity_type_id = %(entity_type_id)s AND is_unique ORDER BY position;
