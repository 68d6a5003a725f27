-- Named queries of handlers/admin.c: the admin panel's view of every user
-- and residence (staff only; the route flag is the authorization, so these
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
-- is_active filter (or NULL); $3 ordering, one of id -id username -username
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
-- User $1 with counts of what they have and did.
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
                       FROM notification_device d WHERE d.user_id = u.id))
FROM auth_user u
WHERE u.id = $1

-- name: admin_users_update
-- Set is_active and/or is_staff of user $1 from $2 (jsonb). Deactivating
-- revokes every token of the user in the same statement. One row per token
-- hash whose cached resolution must go (revoked, or carrying the old
-- is_staff), or one row with a NULL hash; no row when there is no such user.
-- Columns: the user's JSON, the hash.
WITH p AS (
    SELECT * FROM jsonb_populate_record(NULL::auth_user, $2::jsonb)
), u AS (
    UPDATE auth_user u
    SET is_active = coalesce(p.is_active, u.is_active),
        is_staff = coalesce(p.is_staff, u.is_staff)
    FROM p
    WHERE u.id = $1
    RETURNING u.*
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
