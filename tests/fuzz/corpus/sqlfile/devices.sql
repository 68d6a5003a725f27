-- Named queries of handlers/devices.c: the push devices a user registered,
-- which honeydue-worker sends to. A token belongs to one user at a time.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: devices_list retry
SELECT json_build_object('count', count(*),
                         'results', coalesce(json_agg(d ORDER BY d.id), '[]'))
FROM (SELECT id, platform, token, created_at, last_seen_at
      FROM notification_device WHERE user_id = $1) d

-- name: devices_register
-- User $1 registers token $3 for platform $2. The same user again refreshes
-- last_seen_at; another user's token moves to $1 (a phone changed hands) and
-- counts as new. One row: the device, and whether it is new to user $1
-- (created now: inserted or moved).
INSERT INTO notification_device AS d (user_id, platform, token) VALUES ($1, $2, $3)
ON CONFLICT (token) DO UPDATE
SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform, last_seen_at = now(),
    created_at = CASE WHEN d.user_id = EXCLUDED.user_id THEN d.created_at ELSE now() END
RETURNING json_build_object('id', id, 'platform', platform, 'token', token,
                            'created_at', created_at, 'last_seen_at', last_seen_at),
          created_at = now()

-- name: devices_delete
-- Remove user $1's registration of token $2; no row when it is not theirs.
DELETE FROM notification_device WHERE token = $2 AND user_id = $1 RETURNING id
