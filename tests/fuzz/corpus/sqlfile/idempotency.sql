-- Named queries of handlers/common.c: stored answers for Idempotency-Key.
-- A key lives 24 hours per user; the writes that honour it insert their row
-- themselves (see tasks_create, tasks_complete).
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: idem_lookup retry
-- The stored answer for user $1's key $2, when younger than 24 hours.
-- An older row is deleted so the key can be used again.
-- Marked retry although it deletes: it deletes only the row it would not
-- answer, so a second run (whether or not the first committed) deletes
-- nothing more and answers the same row.
WITH old AS (
    DELETE FROM api_idempotencykey
    WHERE user_id = $1 AND idem_key = $2 AND created_at <= now() - interval '24 hours'
)
SELECT status, body, scope
FROM api_idempotencykey
WHERE user_id = $1 AND idem_key = $2 AND created_at > now() - interval '24 hours'
