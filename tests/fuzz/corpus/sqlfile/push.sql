-- Named queries of jobs/push.c: sending a feed entry to its user's devices
-- (notification_push, written by a trigger with the entry: migration
-- 000014). A query marked "retry" after its name is safe to run twice: db.c
-- runs it once more on a new connection when Postgres went away under it
-- (see fcgi-app/sqlfile.h).

-- name: push_claim
-- Claim the devices notification $1 is still to be pushed to, for $2
-- seconds (a run that dies leaves them to the next after that), and answer
-- what a push needs: device id, platform, token, kind, title, body,
-- residence and task ids (0: none), the user's unread count (the badge),
-- when the entry was written (Unix seconds), and this claim's attempt.
WITH c AS (
    UPDATE notification_push p
    SET claimed_until = now() + make_interval(secs => $2::integer), attempts = p.attempts + 1
    WHERE p.notification_id = $1 AND p.status = 'pending'
      AND (p.claimed_until IS NULL OR p.claimed_until < now())
    RETURNING p.device_id, p.attempts
)
SELECT c.device_id, d.platform, d.token, n.kind, n.title, n.body,
       coalesce(n.data ->> 'residence_id', '0'), coalesce(n.data ->> 'task_id', '0'),
       (SELECT count(*) FROM notification_notification u
        WHERE u.user_id = n.user_id AND u.read_at IS NULL),
       extract(epoch FROM n.created_at)::bigint, c.attempts
FROM c
JOIN notification_device d ON d.id = c.device_id
JOIN notification_notification n ON n.id = $1
ORDER BY c.device_id

-- name: push_done
-- Notification $1's push to device $2 came to status $3 (sent, failed,
-- skipped, or pending: to try again), described by $4; the device keeps
-- the time and result of its last real attempt (not a skip).
WITH p AS (
    UPDATE notification_push
    SET status = $3::text, claimed_until = NULL,
        last_error = CASE WHEN $3::text = 'sent' THEN NULL ELSE left($4::text, 200) END,
        done_at = CASE WHEN $3::text = 'pending' THEN NULL ELSE now() END
    WHERE notification_id = $1::bigint AND device_id = $2::bigint
    RETURNING device_id
)
UPDATE notification_device d
SET last_push_at = now(), last_push_result = left($4::text, 200)
FROM p
WHERE d.id = p.device_id AND $3::text <> 'skipped'

-- name: push_device_gone
-- The provider says token $2 is dead: forget device $1 (its pending pushes
-- go with it). Safe to run twice.
DELETE FROM notification_device WHERE id = $1 AND token = $2
