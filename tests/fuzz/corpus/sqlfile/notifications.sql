-- Named queries of handlers/notifications.c: a user's notification feed and
-- their delivery preferences. Every query is scoped to the requesting user
-- ($1 where it appears): someone else's notification is not found.
-- Rows of the feed are written by honeydue-worker, never by the API.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: notifications_list retry
-- One page of user $1's feed, unread first, then newest first; $2 true keeps
-- only the unread, $3 page size, $4 offset. One row: matching count, the
-- page (a JSON array), the user's unread count.
WITH f AS (
    SELECT n.id, n.kind, n.title, n.body, n.data, n.read_at, n.created_at
    FROM notification_notification n
    WHERE n.user_id = $1 AND (n.read_at IS NULL OR NOT $2::boolean)
)
SELECT (SELECT count(*) FROM f),
       (SELECT coalesce(json_agg(p ORDER BY p.read_at IS NULL DESC, p.created_at DESC, p.id DESC),
                        '[]')
        FROM (SELECT * FROM f
              ORDER BY f.read_at IS NULL DESC, f.created_at DESC, f.id DESC
              LIMIT $3::int OFFSET $4::bigint) p),
       (SELECT count(*) FROM notification_notification
        WHERE user_id = $1 AND read_at IS NULL)

-- name: notifications_read
-- Mark notification $2 of user $1 read (the first time counts); no row
-- when it is not theirs.
UPDATE notification_notification
SET read_at = coalesce(read_at, now())
WHERE id = $2 AND user_id = $1
RETURNING json_build_object('id', id, 'kind', kind, 'title', title, 'body', body, 'data', data,
                            'read_at', read_at, 'created_at', created_at)

-- name: notifications_read_all
-- Mark every unread notification of user $1 read: {"marked": N}.
WITH u AS (
    UPDATE notification_notification SET read_at = now()
    WHERE user_id = $1 AND read_at IS NULL
    RETURNING id
)
SELECT json_build_object('marked', count(*)) FROM u

-- name: notifications_delete
DELETE FROM notification_notification WHERE id = $2 AND user_id = $1 RETURNING id

-- name: preferences_get retry
-- User $1's preferences; the defaults are stored the first time they are
-- read, so the worker finds a row for everyone who has looked.
-- Marked retry although it inserts: a second run finds the row and inserts
-- nothing, and the answer, read through notification_preference_effective,
-- is the same with the stored defaults as without them.
WITH ins AS (
    INSERT INTO notification_preference
        (user_id, task_created, task_completed, task_due, task_overdue, member_joined, reminder,
         email_enabled, push_enabled, reminder_hour)
    SELECT e.user_id, e.task_created, e.task_completed, e.task_due, e.task_overdue,
           e.member_joined, e.reminder, e.email_enabled, e.push_enabled, e.reminder_hour
    FROM notification_preference_effective e
    WHERE e.user_id = $1
    ON CONFLICT (user_id) DO NOTHING
)
SELECT json_build_object('task_created', e.task_created, 'task_completed', e.task_completed,
                         'task_due', e.task_due, 'task_overdue', e.task_overdue,
                         'member_joined', e.member_joined, 'reminder', e.reminder,
                         'email_enabled', e.email_enabled, 'push_enabled', e.push_enabled,
                         'reminder_hour', e.reminder_hour)
FROM notification_preference_effective e
WHERE e.user_id = $1

-- name: preferences_update
-- Apply the validated changes $2 (jsonb) to user $1's preferences: on the
-- stored row (locked by the upsert, so concurrent changes to different
-- fields both survive) or, the first time, on the defaults.
INSERT INTO notification_preference AS p
    (user_id, task_created, task_completed, task_due, task_overdue, member_joined, reminder,
     email_enabled, push_enabled, reminder_hour)
SELECT $1, x.task_created, x.task_completed, x.task_due, x.task_overdue, x.member_joined,
       x.reminder, x.email_enabled, x.push_enabled, x.reminder_hour
FROM notification_preference_effective e, jsonb_populate_record(e, $2::jsonb) x
WHERE e.user_id = $1
ON CONFLICT (user_id) DO UPDATE
SET (task_created, task_completed, task_due, task_overdue, member_joined, reminder,
     email_enabled, push_enabled, reminder_hour, updated_at) =
    (SELECT y.task_created, y.task_completed, y.task_due, y.task_overdue, y.member_joined,
            y.reminder, y.email_enabled, y.push_enabled, y.reminder_hour, now()
     FROM jsonb_populate_record(p, $2::jsonb) y)
RETURNING json_build_object('task_created', p.task_created, 'task_completed', p.task_completed,
                            'task_due', p.task_due, 'task_overdue', p.task_overdue,
                            'member_joined', p.member_joined, 'reminder', p.reminder,
                            'email_enabled', p.email_enabled, 'push_enabled', p.push_enabled,
                            'reminder_hour', p.reminder_hour)
