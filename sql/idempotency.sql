-- Named queries of handlers/common.c: stored answers for Idempotency-Key.
-- A key lives 24 hours per user; the writes that honour it insert their row
-- themselves (see tasks_create, tasks_complete).

-- name: idem_lookup
-- The stored answer for user $1's key $2, when younger than 24 hours.
-- An older row is deleted so the key can be used again.
WITH old AS (
    DELETE FROM api_idempotencykey
    WHERE user_id = $1 AND idem_key = $2 AND created_at <= now() - interval '24 hours'
)
SELECT status, body, scope
FROM api_idempotencykey
WHERE user_id = $1 AND idem_key = $2 AND created_at > now() - interval '24 hours'
