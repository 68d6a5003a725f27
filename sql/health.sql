-- Named queries of handlers/health.c.

-- name: health_schema_version
-- The applied schema version, as goose computes it.
SELECT max(version_id) FROM goose_db_version WHERE is_applied
