-- Named queries of handlers/contractors.c.
-- A contractor belongs to a residence; every member of it reads and writes
-- the residence's contractors, anyone else gets no row (404). $1 is the
-- contractor and $2 the requesting user where both appear.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: contractors_list retry
-- User $1's contractors across their residences (only residence $2 when it
-- is not NULL): favourites first, then by name.
SELECT json_build_object('count', count(*),
                         'results', coalesce(json_agg(row_to_json(c)
                                                      ORDER BY c.is_favorite DESC, lower(c.name), c.id),
                                             '[]'))
FROM contractor_contractor c
WHERE c.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $1)
  AND ($2::bigint IS NULL OR c.residence_id = $2::bigint)

-- name: contractors_create
-- $1 user, $2 residence, $3 the validated fields as jsonb. No row when the
-- user is not a member of the residence.
WITH p AS (
    SELECT * FROM jsonb_populate_record(NULL::contractor_contractor, $3::jsonb)
), c AS (
    INSERT INTO contractor_contractor AS n (residence_id, created_by_id, name, company, phone, email,
                                            website, specialties, notes, is_favorite)
    SELECT $2, $1, p.name, coalesce(p.company, ''), coalesce(p.phone, ''), p.email, p.website,
           coalesce(p.specialties, '{}'), coalesce(p.notes, ''), coalesce(p.is_favorite, false)
    FROM p
    WHERE EXISTS (SELECT 1 FROM residence_residence_users WHERE residence_id = $2 AND user_id = $1)
    RETURNING n.*
)
SELECT row_to_json(c) FROM c

-- name: contractors_get retry
SELECT row_to_json(c)
FROM contractor_contractor c
WHERE c.id = $1
  AND c.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)

-- name: contractors_update
-- $3 the validated changes as jsonb (absent keys keep their value).
WITH c AS (
    UPDATE contractor_contractor c
    SET (name, company, phone, email, website, specialties, notes, is_favorite, updated_at) =
        (SELECT p.name, p.company, p.phone, p.email, p.website, p.specialties, p.notes,
                p.is_favorite, now()
         FROM jsonb_populate_record(c, $3::jsonb) p)
    WHERE c.id = $1
      AND c.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    RETURNING c.*
)
SELECT row_to_json(c) FROM c

-- name: contractors_delete
-- The completions that named the contractor keep their history, without it.
DELETE FROM contractor_contractor c
WHERE c.id = $1
  AND c.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
RETURNING c.id

-- name: contractors_completions retry
-- The completions contractor $1 did, newest first, each with its task's
-- title; no row when user $2 cannot see the contractor. Only completions of
-- tasks the user can see are listed.
SELECT (SELECT json_build_object('count', count(*),
                                 'results', coalesce(json_agg(x.j ORDER BY x.completed_at DESC, x.id DESC),
                                                     '[]'))
        FROM (SELECT (to_jsonb(tc) || jsonb_build_object('task_title', t.title,
                                                         'residence_id', t.residence_id))::json AS j,
                     tc.completed_at, tc.id
              FROM task_taskcompletion tc
              JOIN task_task t ON t.id = tc.task_id
              WHERE tc.contractor_id = $1
                AND t.residence_id IN (SELECT residence_id FROM residence_residence_users
                                       WHERE user_id = $2)) x)
WHERE EXISTS (SELECT 1 FROM contractor_contractor c
              WHERE c.id = $1
                AND c.residence_id IN (SELECT residence_id FROM residence_residence_users
                                       WHERE user_id = $2))
