-- Named queries of honeydue-worker's jobs (jobs/). Each write is keyed by
-- the job's id (source_job) or by the day (notification_reminderlog), so a
-- job delivered twice has the effect of one.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: jobs_notify_task
-- Job $4: tell every other member of task $1's residence who wants
-- notifications of kind $3 ('task_created' or 'task_completed') that user
-- $2 did it. Answers each entry written: its id, whether its user wants
-- it by email and by push (notification_push's trigger then wrote the
-- devices: push.send sends them), address, name, title, body.
WITH t AS (
    SELECT t.id, t.title, t.residence_id, r.name AS residence
    FROM task_task t JOIN residence_residence r ON r.id = t.residence_id
    WHERE t.id = $1
), actor AS (
    SELECT coalesce(nullif(btrim(first_name || ' ' || last_name), ''), username) AS name
    FROM auth_user WHERE id = $2
), who AS (
    SELECT e.user_id, e.email_enabled,
           e.push_enabled AND EXISTS (SELECT 1 FROM notification_device d
                                      WHERE d.user_id = e.user_id) AS push
    FROM notification_preference_effective e
    JOIN residence_residence_users m ON m.user_id = e.user_id
    JOIN t ON m.residence_id = t.residence_id
    WHERE e.user_id <> $2 AND (to_jsonb(e) ->> $3::text)::boolean
), ins AS (
    INSERT INTO notification_notification (user_id, kind, title, body, data, source_job)
    SELECT who.user_id, $3::text,
           CASE $3::text WHEN 'task_created' THEN 'New task: ' ELSE 'Done: ' END || t.title,
           coalesce((SELECT name FROM actor), 'Someone')
               || CASE $3::text WHEN 'task_created' THEN ' added "' ELSE ' completed "' END
               || t.title || '" at ' || t.residence || '.',
           jsonb_build_object('task_id', t.id, 'residence_id', t.residence_id),
           $4::text
    FROM who, t
    ON CONFLICT (user_id, source_job) WHERE source_job IS NOT NULL DO NOTHING
    RETURNING id, user_id, title, body
)
SELECT ins.id, who.email_enabled, who.push, u.email, coalesce(nullif(u.first_name, ''), u.username),
       ins.title, ins.body
FROM ins JOIN who USING (user_id) JOIN auth_user u ON u.id = ins.user_id

-- name: jobs_notify_member_joined
-- Job $3: tell the other members of residence $1 who want it that user $2
-- joined. Answers each entry written, as jobs_notify_task does.
WITH r AS (
    SELECT id, name FROM residence_residence WHERE id = $1
), newcomer AS (
    SELECT coalesce(nullif(btrim(first_name || ' ' || last_name), ''), username) AS name
    FROM auth_user WHERE id = $2
), who AS (
    SELECT e.user_id, e.email_enabled,
           e.push_enabled AND EXISTS (SELECT 1 FROM notification_device d
                                      WHERE d.user_id = e.user_id) AS push
    FROM notification_preference_effective e
    JOIN residence_residence_users m ON m.user_id = e.user_id AND m.residence_id = $1
    WHERE e.user_id <> $2 AND e.member_joined
), ins AS (
    INSERT INTO notification_notification (user_id, kind, title, body, data, source_job)
    SELECT who.user_id, 'member_joined', 'New member at ' || r.name,
           coalesce((SELECT name FROM newcomer), 'Someone') || ' joined ' || r.name || '.',
           jsonb_build_object('residence_id', r.id, 'user_id', $2::bigint), $3::text
    FROM who, r
    ON CONFLICT (user_id, source_job) WHERE source_job IS NOT NULL DO NOTHING
    RETURNING id, user_id, title, body
)
SELECT ins.id, who.email_enabled, who.push, u.email, coalesce(nullif(u.first_name, ''), u.username),
       ins.title, ins.body
FROM ins JOIN who USING (user_id) JOIN auth_user u ON u.id = ins.user_id

-- name: jobs_reminders_claim
-- Up to $1 users whose reminder hour has come today, in the time zone of
-- the residence they joined first, and who had no reminder yet for that
-- local day: claim the day (at most once, whatever runs concurrently), and
-- for those with tasks due today or overdue, write the reminder to the feed.
-- Answers, for each user claimed: id, email, name, email wanted, local
-- date, the tasks as JSON (NULL when nothing is due: no reminder), the feed
-- entry's id (NULL likewise) and whether to push it.
WITH tz AS (
    SELECT DISTINCT ON (m.user_id) m.user_id, r.time_zone
    FROM residence_residence_users m JOIN residence_residence r ON r.id = m.residence_id
    ORDER BY m.user_id, m.joined_at, m.residence_id
), due AS (
    SELECT e.user_id, e.email_enabled, e.push_enabled,
           (now() AT TIME ZONE tz.time_zone)::date AS local_date
    FROM notification_preference_effective e JOIN tz USING (user_id)
    WHERE e.reminder
      AND extract(hour FROM now() AT TIME ZONE tz.time_zone) >= e.reminder_hour
      AND NOT EXISTS (SELECT 1 FROM notification_reminderlog l
                      WHERE l.user_id = e.user_id
                        AND l.local_date = (now() AT TIME ZONE tz.time_zone)::date)
    LIMIT $1
), claimed AS (
    INSERT INTO notification_reminderlog (user_id, local_date)
    SELECT user_id, local_date FROM due
    ON CONFLICT DO NOTHING
    RETURNING user_id, local_date
), tasks AS (
    SELECT c.user_id,
           json_agg(json_build_object('id', t.id, 'title', t.title, 'due_date', t.due_date,
                                      'residence', r.name,
                                      'overdue', t.due_date < (now() AT TIME ZONE r.time_zone)::date)
                    ORDER BY t.due_date, t.id) AS list,
           count(*) FILTER (WHERE t.due_date < (now() AT TIME ZONE r.time_zone)::date) AS overdue,
           count(*) AS total
    FROM claimed c
    JOIN residence_residence_users m ON m.user_id = c.user_id
    JOIN residence_residence r ON r.id = m.residence_id
    JOIN task_task t ON t.residence_id = r.id
    WHERE NOT t.completed AND NOT t.archived AND NOT t.cancelled
      AND t.due_date <= (now() AT TIME ZONE r.time_zone)::date
    GROUP BY c.user_id
), feed AS (
    INSERT INTO notification_notification (user_id, kind, title, body, data, source_job)
    SELECT k.user_id, 'reminder',
           k.total || CASE WHEN k.total = 1 THEN ' task' ELSE ' tasks' END || ' to do today',
           CASE WHEN k.overdue > 0 THEN k.overdue || ' overdue. ' ELSE '' END
               || 'Open honeyDue to see them.',
           jsonb_build_object('local_date', c.local_date, 'tasks', k.list),
           'reminder:' || c.local_date
    FROM tasks k JOIN claimed c USING (user_id)
    ON CONFLICT (user_id, source_job) WHERE source_job IS NOT NULL DO NOTHING
    RETURNING id, user_id
)
SELECT u.id, u.email, coalesce(nullif(u.first_name, ''), u.username), d.email_enabled,
       c.local_date, k.list, f.id,
       d.push_enabled AND EXISTS (SELECT 1 FROM notification_device v WHERE v.user_id = u.id)
FROM claimed c
JOIN due d USING (user_id)
JOIN auth_user u ON u.id = c.user_id
LEFT JOIN tasks k ON k.user_id = c.user_id
LEFT JOIN feed f ON f.user_id = c.user_id

-- name: jobs_outbox_take
-- Up to 100 jobs the API parked while Redis was down, removed as they are
-- read (a worker that fails to queue them puts them back).
DELETE FROM queue_outbox
WHERE id IN (SELECT id FROM queue_outbox ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED)
RETURNING job::text

-- name: jobs_outbox_put_back
INSERT INTO queue_outbox (job) VALUES ($1::jsonb)
