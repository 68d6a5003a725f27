-- Named queries of handlers/health.c.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: health_schema_version retry
-- The applied schema version, as goose computes it.
SELECT max(version_id) FROM goose_db_version WHERE is_applied
