-- Named queries of handlers/admin_audit.c: the admin audit log
-- (admin_auditlog, migration 000015), which only ever grows. A change made
-- in Postgres writes its own entry in the statement that makes it (see
-- admin_users_update in admin.sql); admin_audit_insert is for actions
-- outside Postgres (the job queue, in Redis).
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: admin_audit_insert
-- Staff user $1 did $2 to $3 $4 (or NULL), details $5 (a JSON object), from
-- address $6 (or NULL). Returns the entry's id; no row when user $1 is gone.
INSERT INTO admin_auditlog (actor_id, actor_username, action, target_type, target_id, details,
                            remote_addr)
SELECT u.id, u.username, $2, $3, $4, $5::jsonb, $6
FROM auth_user u
WHERE u.id = $1
RETURNING id

-- name: admin_audit_list retry
-- Filters, each NULL for any: $1 actor id, $2 action, $3 target type, $4
-- target id; $5 page size, $6 offset. One row: the matching count, the page
-- (newest first).
WITH f AS (
    SELECT a.id
    FROM admin_auditlog a
    WHERE ($1::bigint IS NULL OR a.actor_id = $1::bigint)
      AND ($2::text IS NULL OR a.action = $2::text)
      AND ($3::text IS NULL OR a.target_type = $3::text)
      AND ($4::text IS NULL OR a.target_id = $4::text)
), pg AS (
    SELECT id FROM f ORDER BY id DESC LIMIT $5::int OFFSET $6::bigint
)
SELECT (SELECT count(*) FROM f),
       (SELECT coalesce(json_agg(json_build_object(
                   'id', a.id,
                   'actor', json_build_object('id', a.actor_id, 'username', a.actor_username),
                   'action', a.action, 'target_type', a.target_type, 'target_id', a.target_id,
                   'details', a.details, 'remote_addr', a.remote_addr,
                   'created_at', a.created_at)
                   ORDER BY a.id DESC), '[]')
        FROM pg JOIN admin_auditlog a ON a.id = pg.id)
