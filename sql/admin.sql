-- Named queries of handlers/admin.c: the admin panel's view of every user
-- and residence, and the dashboard's numbers (staff only; the route flag is the authorization, so these
-- queries are not scoped to a user). Searches are case-insensitive
-- substring matches of $1 (NULL for none; every character literal, no
-- wildcards); they and the orderings scan the table, which is fine for a
-- low-traffic panel and needs no pg_trgm.
-- A user's "last_active" is the later of their last login and the last use
-- of any of their tokens.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: admin_users_list retry
-- $1 search over username, email, first and last name (or NULL); $2
-- is_active filter (or NULL); $6 is_staff filter (or NULL); $3 ordering, one of id -id username -username
-- email -email date_joined -date_joined last_login -last_login (never-logged-in
-- users last either way); $4 page size, $5 offset. One row: matching count,
-- the page.
WITH q AS (
    SELECT lower($1::text) AS s
), f AS (
    SELECT u.*,
           row_number() OVER (
               ORDER BY CASE WHEN $3 = 'username' THEN lower(u.username) END,
                        CASE WHEN $3 = '-username' THEN lower(u.username) END DESC,
                        CASE WHEN $3 = 'email' THEN lower(u.email) END,
                        CASE WHEN $3 = '-email' THEN lower(u.email) END DESC,
                        CASE WHEN $3 = 'date_joined' THEN u.date_joined END,
                        CASE WHEN $3 = '-date_joined' THEN u.date_joined END DESC,
                        CASE WHEN $3 = 'last_login' THEN u.last_login END NULLS LAST,
                        CASE WHEN $3 = '-last_login' THEN u.last_login END DESC NULLS LAST,
                        CASE WHEN $3 = '-id' THEN u.id END DESC,
                        u.id) AS n
    FROM auth_user u, q
    WHERE ($1::text IS NULL OR strpos(lower(u.username), q.s) > 0
           OR strpos(lower(u.email), q.s) > 0 OR strpos(lower(u.first_name), q.s) > 0
           OR strpos(lower(u.last_name), q.s) > 0)
      AND ($2::boolean IS NULL OR u.is_active = $2::boolean)
      AND ($6::boolean IS NULL OR u.is_staff = $6::boolean)
)
SELECT (SELECT count(*) FROM f),
       (SELECT coalesce(json_agg(json_build_object(
                   'id', f.id, 'username', f.username, 'email', f.email,
                   'first_name', f.first_name, 'last_name', f.last_name,
                   'is_active', f.is_active, 'is_staff', f.is_staff,
                   'date_joined', f.date_joined, 'last_login', f.last_login,
                   'last_active', greatest(f.last_login, (SELECT max(t.last_used)
                                                          FROM user_authtoken t
                                                          WHERE t.user_id = f.id)))
                   ORDER BY f.n), '[]')
        FROM f WHERE f.n > $5::bigint AND f.n <= $5::bigint + $4::int)

-- name: admin_users_get retry
-- User $1 with counts of what they have and did, their devices, and the
-- residences they own or belong to (by id).
SELECT json_build_object(
           'id', u.id, 'username', u.username, 'email', u.email,
           'first_name', u.first_name, 'last_name', u.last_name,
           'is_active', u.is_active, 'is_staff', u.is_staff,
           'date_joined', u.date_joined, 'last_login', u.last_login,
           'last_active', greatest(u.last_login, (SELECT max(t.last_used) FROM user_authtoken t
                                                  WHERE t.user_id = u.id)),
           'counts', json_build_object(
               'residences', (SELECT count(*) FROM residence_residence_users m
                              WHERE m.user_id = u.id),
               'residences_owned', (SELECT count(*) FROM residence_residence r
                                    WHERE r.owner_id = u.id),
               'tasks', (SELECT count(*) FROM task_task t
                         WHERE t.residence_id IN (SELECT residence_id
                                                  FROM residence_residence_users
                                                  WHERE user_id = u.id)),
               'tasks_created', (SELECT count(*) FROM task_task t WHERE t.created_by_id = u.id),
               'completions', (SELECT count(*) FROM task_taskcompletion c
                               WHERE c.completed_by_id = u.id),
               'tokens', (SELECT count(*) FROM user_authtoken t WHERE t.user_id = u.id),
               'devices', (SELECT count(*) FROM notification_device d WHERE d.user_id = u.id)),
           'devices', (SELECT coalesce(json_agg(json_build_object(
                                   'id', d.id, 'platform', d.platform, 'created_at', d.created_at,
                                   'last_seen_at', d.last_seen_at, 'last_push_at', d.last_push_at,
                                   'last_push_result', d.last_push_result) ORDER BY d.id), '[]')
                       FROM notification_device d WHERE d.user_id = u.id),
           'residences', (SELECT coalesce(json_agg(json_build_object(
                                     'id', r.id, 'name', r.name,
                                     'role', CASE WHEN r.owner_id = u.id THEN 'owner'
                                                  ELSE 'member' END,
                                     'member_count', (SELECT count(*)
                                                      FROM residence_residence_users m
                                                      WHERE m.residence_id = r.id),
                                     'task_count', (SELECT count(*) FROM task_task t
                                                    WHERE t.residence_id = r.id))
                                     ORDER BY r.id), '[]')
                          FROM residence_residence r
                          WHERE r.owner_id = u.id
                             OR r.id IN (SELECT residence_id FROM residence_residence_users
                                         WHERE user_id = u.id)))
FROM auth_user u
WHERE u.id = $1

-- name: admin_users_update
-- Staff user $3, from address $4 (or NULL), sets is_active and/or is_staff
-- of user $1 from $2 (jsonb). Deactivating revokes every token of the user
-- in the same statement. Each flag that changed is an admin_auditlog entry
-- written by the same statement (the row is locked, so the old values are
-- the ones this update replaced, whatever ran concurrently): nothing when
-- nothing changed. One row per token hash whose cached resolution must go
-- (revoked, or carrying the old is_staff), or one row with a NULL hash; no
-- row when there is no such user. Columns: the user's JSON, the hash.
WITH p AS (
    SELECT * FROM jsonb_populate_record(NULL::auth_user, $2::jsonb)
), u AS (
    UPDATE auth_user u
    SET is_active = coalesce(p.is_active, u.is_active),
        is_staff = coalesce(p.is_staff, u.is_staff)
    FROM p, (SELECT id, is_active, is_staff FROM auth_user WHERE id = $1 FOR UPDATE) old
    WHERE u.id = old.id
    RETURNING u.*, old.is_active AS was_active, old.is_staff AS was_staff
), audit AS (
    INSERT INTO admin_auditlog (actor_id, actor_username, action, target_type, target_id,
                                details, remote_addr)
    SELECT a.id, a.username, c.action, 'user', u.id::text,
           jsonb_build_object('username', u.username), $4
    FROM u
    JOIN auth_user a ON a.id = $3
    CROSS JOIN LATERAL (VALUES
        (1, CASE WHEN u.was_active AND NOT u.is_active THEN 'user.deactivate'
                 WHEN NOT u.was_active AND u.is_active THEN 'user.reactivate' END),
        (2, CASE WHEN NOT u.was_staff AND u.is_staff THEN 'user.grant_staff'
                 WHEN u.was_staff AND NOT u.is_staff THEN 'user.revoke_staff' END)) AS c(n, action)
    WHERE c.action IS NOT NULL
    ORDER BY c.n
), revoked AS (
    DELETE FROM user_authtoken t USING u
    WHERE t.user_id = u.id AND NOT u.is_active
    RETURNING t.key_hash
), stale AS (
    SELECT key_hash FROM revoked
    UNION
    SELECT t.key_hash FROM user_authtoken t WHERE t.user_id = $1 AND $2::jsonb ? 'is_staff'
)
SELECT json_build_object(
           'id', u.id, 'username', u.username, 'email', u.email,
           'first_name', u.first_name, 'last_name', u.last_name,
           'is_active', u.is_active, 'is_staff', u.is_staff,
           'date_joined', u.date_joined, 'last_login', u.last_login,
           'last_active', greatest(u.last_login, (SELECT max(t.last_used) FROM user_authtoken t
                                                  WHERE t.user_id = u.id))),
       s.key_hash
FROM u LEFT JOIN stale s ON true

-- name: admin_residences_list retry
-- $1 search over the name (or NULL); $2 page size, $3 offset. One row:
-- matching count, the page (with owner, member and task counts).
WITH f AS (
    SELECT r.id FROM residence_residence r
    WHERE $1::text IS NULL OR strpos(lower(r.name), lower($1::text)) > 0
), pg AS (
    SELECT id FROM f ORDER BY id LIMIT $2::int OFFSET $3::bigint
)
SELECT (SELECT count(*) FROM f),
       (SELECT coalesce(json_agg(json_build_object(
                   'id', r.id, 'name', r.name, 'city', r.city, 'country', r.country,
                   'time_zone', r.time_zone, 'created_at', r.created_at,
                   'owner', json_build_object('id', o.id, 'username', o.username,
                                              'email', o.email),
                   'member_count', (SELECT count(*) FROM residence_residence_users m
                                    WHERE m.residence_id = r.id),
                   'task_count', (SELECT count(*) FROM task_task t WHERE t.residence_id = r.id))
                   ORDER BY r.id), '[]')
        FROM pg JOIN residence_residence r ON r.id = pg.id JOIN auth_user o ON o.id = r.owner_id)

-- name: admin_residences_get retry
-- Residence $1 with its owner, its members (by the date they joined) and
-- its tasks counted by state. The states do not overlap, so open +
-- completed + archived + cancelled = total: cancelled (whether archived or
-- not), archived, completed (a one-time task done), open (the rest);
-- overdue counts the open tasks due before today where the residence is.
SELECT json_build_object(
           'id', r.id, 'name', r.name, 'city', r.city, 'country', r.country,
           'time_zone', r.time_zone, 'created_at', r.created_at,
           'owner', json_build_object('id', o.id, 'username', o.username, 'email', o.email),
           'members', (SELECT coalesce(json_agg(json_build_object(
                                  'id', mu.id, 'username', mu.username, 'email', mu.email,
                                  'is_owner', mu.id = r.owner_id, 'joined_at', m.joined_at)
                                  ORDER BY m.joined_at, mu.id), '[]')
                       FROM residence_residence_users m
                       JOIN auth_user mu ON mu.id = m.user_id
                       WHERE m.residence_id = r.id),
           'task_counts', (SELECT json_build_object(
                                      'total', count(*),
                                      'open', count(*) FILTER (WHERE NOT t.cancelled
                                                               AND NOT t.archived
                                                               AND NOT t.completed),
                                      'completed', count(*) FILTER (WHERE NOT t.cancelled
                                                                    AND NOT t.archived
                                                                    AND t.completed),
                                      'archived', count(*) FILTER (WHERE NOT t.cancelled
                                                                   AND t.archived),
                                      'cancelled', count(*) FILTER (WHERE t.cancelled),
                                      'overdue', count(*) FILTER (
                                          WHERE NOT t.cancelled AND NOT t.archived
                                            AND NOT t.completed
                                            AND t.due_date < (now() AT TIME ZONE r.time_zone)::date))
                           FROM task_task t
                           WHERE t.residence_id = r.id))
FROM residence_residence r
JOIN auth_user o ON o.id = r.owner_id
WHERE r.id = $1

-- name: admin_stats_series retry
-- The last $1 UTC days, oldest first, ending today, every day present:
-- users who joined that day (signups) and users recorded as active that
-- day (auth_user_activity, one row per user per day).
WITH today AS (
    SELECT (now() AT TIME ZONE 'UTC')::date AS d
), days AS (
    SELECT today.d - ($1::int - 1) + i AS day
    FROM today, generate_series(0, $1::int - 1) AS i
), signups AS (
    SELECT (u.date_joined AT TIME ZONE 'UTC')::date AS day, count(*) AS n
    FROM auth_user u, today
    WHERE u.date_joined >= (today.d - ($1::int - 1))::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1
), active AS (
    SELECT a.day, count(*) AS n
    FROM auth_user_activity a, today
    WHERE a.day >= today.d - ($1::int - 1)
    GROUP BY 1
)
SELECT json_build_object(
           'days', $1::int,
           'today', to_char(today.d, 'YYYY-MM-DD'),
           'series', (SELECT json_agg(json_build_object(
                                 'date', to_char(days.day, 'YYYY-MM-DD'),
                                 'signups', coalesce(s.n, 0),
                                 'active', coalesce(a.n, 0)) ORDER BY days.day)
                      FROM days
                      LEFT JOIN signups s ON s.day = days.day
                      LEFT JOIN active a ON a.day = days.day))
FROM today

-- name: admin_stats retry
-- Totals for the dashboard. "Seen" counts users whose last_active falls in
-- the window: login sets last_login (register and login both do), and
-- using a token sets its last_used (at most hourly, see auth_token_user).
WITH seen AS (
    SELECT greatest(u.last_login, t.last_used) AS at
    FROM auth_user u
    LEFT JOIN (SELECT user_id, max(last_used) AS last_used
               FROM user_authtoken GROUP BY user_id) t ON t.user_id = u.id
)
SELECT json_build_object(
           'users', (SELECT count(*) FROM auth_user),
           'active_users', (SELECT count(*) FROM auth_user WHERE is_active),
           'staff_users', (SELECT count(*) FROM auth_user WHERE is_staff),
           'residences', (SELECT count(*) FROM residence_residence),
           'tasks', (SELECT count(*) FROM task_task),
           'completions', (SELECT count(*) FROM task_taskcompletion),
           'seen_last_7_days', (SELECT count(*) FROM seen
                                WHERE at > now() - interval '7 days'),
           'seen_last_30_days', (SELECT count(*) FROM seen
                                 WHERE at > now() - interval '30 days'),
           'generated_at', now())
