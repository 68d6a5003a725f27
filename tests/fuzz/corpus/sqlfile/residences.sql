-- Named queries of handlers/residences.c.
-- Membership is the access rule: a residence is visible to the users in
-- residence_residence_users (its owner included); only the owner changes it.
-- $1 is the residence id and $2 the requesting user where both appear.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: residences_list retry
SELECT json_build_object('count', count(*),
                         'results', coalesce(json_agg(x ORDER BY x.id), '[]'))
FROM (SELECT r.*, r.owner_id = $1 AS is_owner
      FROM residence_residence r
      JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id = $1) x

-- name: residences_create
-- $1 owner, $2 the validated fields as jsonb. An unknown time zone raises 22023.
WITH p AS (
    SELECT * FROM jsonb_populate_record(NULL::residence_residence, $2::jsonb)
), r AS (
    INSERT INTO residence_residence (owner_id, name, street_address, city, state_province,
                                     postal_code, country, time_zone)
    SELECT $1, p.name, coalesce(p.street_address, ''), coalesce(p.city, ''),
           coalesce(p.state_province, ''), coalesce(p.postal_code, ''),
           coalesce(p.country, ''), coalesce(p.time_zone, 'UTC')
    FROM p
    WHERE (now() AT TIME ZONE coalesce(p.time_zone, 'UTC')) IS NOT NULL
    RETURNING *
), m AS (
    INSERT INTO residence_residence_users (residence_id, user_id) SELECT id, owner_id FROM r
)
SELECT row_to_json(x), ARRAY[$1::bigint]
FROM (SELECT r.*, true AS is_owner FROM r) x

-- name: residences_get retry
SELECT row_to_json(x)
FROM (SELECT r.*, r.owner_id = $2 AS is_owner
      FROM residence_residence r
      JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id = $2
      WHERE r.id = $1) x

-- name: residences_update
-- One row: is_owner (NULL when not a member), the new JSON, the members.
WITH target AS (
    SELECT r.id, r.owner_id = $2 AS is_owner
    FROM residence_residence r
    JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id = $2
    WHERE r.id = $1
), upd AS (
    UPDATE residence_residence r
    SET (name, street_address, city, state_province, postal_code, country, time_zone,
         updated_at) =
        (SELECT p.name, p.street_address, p.city, p.state_province, p.postal_code, p.country,
                p.time_zone, now()
         FROM jsonb_populate_record(r, $3::jsonb) p)
    FROM target
    WHERE r.id = target.id AND target.is_owner
      AND (now() AT TIME ZONE coalesce($3::jsonb ->> 'time_zone', 'UTC')) IS NOT NULL
    RETURNING r.*
)
SELECT (SELECT is_owner FROM target),
       (SELECT row_to_json(x) FROM (SELECT upd.*, true AS is_owner FROM upd) x),
       (SELECT array_agg(user_id) FROM residence_residence_users WHERE residence_id = $1)

-- name: residences_delete
-- One row: is_owner (NULL when not a member), rows deleted, the members it had.
WITH target AS (
    SELECT r.id, r.owner_id = $2 AS is_owner
    FROM residence_residence r
    JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id = $2
    WHERE r.id = $1
), members AS (
    SELECT array_agg(user_id) AS ids FROM residence_residence_users WHERE residence_id = $1
), del AS (
    DELETE FROM residence_residence r USING target
    WHERE r.id = target.id AND target.is_owner
    RETURNING r.id
)
SELECT (SELECT is_owner FROM target), (SELECT count(*) FROM del), (SELECT ids FROM members)

-- name: residences_members retry
-- The members of residence $1, or no row when user $2 is not one of them.
-- (The check stands outside the aggregate, which always yields a row.)
SELECT (SELECT json_build_object('count', count(*),
                                 'results', coalesce(json_agg(x ORDER BY x.joined_at, x.id), '[]'))
        FROM (SELECT u.id, u.username, u.first_name, u.last_name, u.id = r.owner_id AS is_owner,
                     m.joined_at
              FROM residence_residence r
              JOIN residence_residence_users m ON m.residence_id = r.id
              JOIN auth_user u ON u.id = m.user_id
              WHERE r.id = $1) x)
WHERE EXISTS (SELECT 1 FROM residence_residence_users WHERE residence_id = $1 AND user_id = $2)

-- name: residences_remove_member
-- Owner $2 removes user $3 from residence $1 (never the owner).
-- One row: is_owner (NULL when $2 is not a member), rows removed, and the
-- members before (the removed one included) whose lists change: the tasks
-- assigned to the one who goes become unassigned.
WITH target AS (
    SELECT r.id, r.owner_id, r.owner_id = $2 AS is_owner
    FROM residence_residence r
    JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id = $2
    WHERE r.id = $1
), del AS (
    DELETE FROM residence_residence_users m USING target
    WHERE m.residence_id = target.id AND target.is_owner AND m.user_id = $3
      AND m.user_id <> target.owner_id
    RETURNING m.user_id
)
SELECT (SELECT is_owner FROM target), (SELECT count(*) FROM del),
       (SELECT array_agg(user_id) FROM residence_residence_users WHERE residence_id = $1)

-- name: residences_leave
-- User $2 leaves residence $1. One row: is_owner (NULL when not a member),
-- rows removed, the members before (as for residences_remove_member).
WITH target AS (
    SELECT r.id, r.owner_id = $2 AS is_owner
    FROM residence_residence r
    JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id = $2
    WHERE r.id = $1
), del AS (
    DELETE FROM residence_residence_users m USING target
    WHERE m.residence_id = target.id AND NOT target.is_owner AND m.user_id = $2
    RETURNING m.user_id
)
SELECT (SELECT is_owner FROM target), (SELECT count(*) FROM del),
       (SELECT array_agg(user_id) FROM residence_residence_users WHERE residence_id = $1)

-- name: sharecode_create
-- Owner $2 replaces residence $1's share code with $3, valid for 24 hours.
-- One row: is_owner (NULL when not a member), the code's JSON (owner only).
WITH target AS (
    SELECT r.id, r.owner_id = $2 AS is_owner
    FROM residence_residence r
    JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id = $2
    WHERE r.id = $1
), del AS (
    DELETE FROM residence_residencesharecode s USING target
    WHERE s.residence_id = target.id AND target.is_owner
), ins AS (
    INSERT INTO residence_residencesharecode (residence_id, code, created_by_id, expires_at)
    SELECT target.id, $3, $2, now() + interval '24 hours' FROM target WHERE target.is_owner
    RETURNING residence_id, code, created_at, expires_at
)
SELECT (SELECT is_owner FROM target),
       (SELECT json_build_object('residence_id', residence_id, 'code', code,
                                 'created_at', created_at, 'expires_at', expires_at) FROM ins)

-- name: sharecode_revoke
-- One row: is_owner (NULL when not a member), codes revoked.
WITH target AS (
    SELECT r.id, r.owner_id = $2 AS is_owner
    FROM residence_residence r
    JOIN residence_residence_users m ON m.residence_id = r.id AND m.user_id = $2
    WHERE r.id = $1
), del AS (
    DELETE FROM residence_residencesharecode s USING target
    WHERE s.residence_id = target.id AND target.is_owner
    RETURNING s.id
)
SELECT (SELECT is_owner FROM target), (SELECT count(*) FROM del)

-- name: residences_join
-- User $1 joins the residence of live share code $2 (joining twice is a no-op).
-- No row when the code is unknown or expired. Columns: the residence, 1
-- when the user was not a member before, its id.
WITH s AS (
    SELECT residence_id FROM residence_residencesharecode WHERE code = $2 AND expires_at > now()
), ins AS (
    INSERT INTO residence_residence_users (residence_id, user_id)
    SELECT residence_id, $1 FROM s
    ON CONFLICT DO NOTHING
    RETURNING residence_id
)
SELECT row_to_json(x), (SELECT count(*) FROM ins), x.id
FROM (SELECT r.*, r.owner_id = $1 AS is_owner
      FROM residence_residence r JOIN s ON s.residence_id = r.id) x
