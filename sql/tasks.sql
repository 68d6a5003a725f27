-- Named queries of handlers/tasks.c.
-- Authorization is part of every query: a task is visible only through a
-- residence the requesting user is a member of. Writes return the members
-- of the affected residence, whose cached lists the handler invalidates.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: tasks_list retry
-- The body of GET /api/tasks/ for user $1, built by Postgres in one pass,
-- and how many seconds it stays true: a task's status changes at midnight
-- in its residence's time zone, so the cached copy must not outlive the
-- earliest coming midnight among the user's residences. (The rows are
-- task_json's, written out so that the planner inlines task_status.)
WITH r AS (
    SELECT r.id, now() AT TIME ZONE r.time_zone AS local
    FROM residence_residence r
    WHERE r.id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $1)
)
SELECT json_build_object('count', count(*),
                         'results', coalesce(json_agg(x ORDER BY x.due_date NULLS LAST, x.id), '[]')),
       (SELECT ceil(min(extract(epoch FROM date_trunc('day', local) + interval '1 day' - local)))::int
        FROM r)
FROM (SELECT t.*, task_status(t, r.local::date) AS status
      FROM r JOIN task_task t ON t.residence_id = r.id) x

-- name: tasks_filtered retry
-- GET /api/tasks/ with filters, for user $1: residence $2, status $3,
-- category $4, priority $5, due on or before $6, due on or after $7,
-- assigned to $8 (each NULL for "any"). $9 true answers the board: the same
-- tasks grouped into one column per status, in a fixed order. Rows as
-- task_json makes them (columns, then status).
WITH x AS (
    SELECT t.*, task_status(t, r.today) AS status
    FROM (SELECT r.id, (now() AT TIME ZONE r.time_zone)::date AS today
          FROM residence_residence r
          WHERE r.id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $1)
            AND ($2::bigint IS NULL OR r.id = $2::bigint)) r
    JOIN task_task t ON t.residence_id = r.id
    WHERE ($4::text IS NULL OR t.category = $4::text)
      AND ($5::text IS NULL OR t.priority = $5::text)
      AND ($6::date IS NULL OR t.due_date <= $6::date)
      AND ($7::date IS NULL OR t.due_date >= $7::date)
      AND ($8::bigint IS NULL OR t.assigned_to_id = $8::bigint)
), y AS (
    SELECT * FROM x WHERE $3::text IS NULL OR x.status = $3::text
)
SELECT CASE WHEN $9::boolean THEN
    json_build_object(
        'count', (SELECT count(*) FROM y),
        'columns', (SELECT json_agg(json_build_object(
                        'status', c.s,
                        'count', (SELECT count(*) FROM y WHERE y.status = c.s),
                        'results', (SELECT coalesce(json_agg(y ORDER BY y.due_date NULLS LAST, y.id), '[]')
                                    FROM y WHERE y.status = c.s)) ORDER BY c.n)
                    FROM (VALUES (1, 'overdue'), (2, 'due_soon'), (3, 'upcoming'),
                                 (4, 'completed'), (5, 'archived')) c (n, s)))
ELSE
    (SELECT json_build_object('count', count(*),
                              'results', coalesce(json_agg(y ORDER BY y.due_date NULLS LAST, y.id), '[]'))
     FROM y)
END

-- name: tasks_get retry
SELECT task_json(t, residence_today(t.residence_id))
FROM task_task t
WHERE t.id = $1
  AND t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)

-- name: tasks_create
-- $1 user, $2 residence, $3 the validated fields as jsonb, $4 the
-- Idempotency-Key or NULL, $5 its scope. No row when the user is not a
-- member of the residence. A key already used makes it fail with 23505.
WITH p AS (
    SELECT * FROM jsonb_populate_record(NULL::task_task, $3::jsonb)
), t AS (
    INSERT INTO task_task AS n (residence_id, created_by_id, title, description, category, priority,
                                due_date, frequency, custom_interval_days, estimated_cost, archived,
                                schedule_anchor, assigned_to_id)
    SELECT $2, $1, p.title, coalesce(p.description, ''), coalesce(p.category, 'general'),
           coalesce(p.priority, 'medium'), p.due_date, coalesce(p.frequency, 'once'),
           p.custom_interval_days, p.estimated_cost, coalesce(p.archived, false),
           coalesce(p.schedule_anchor, 'due_date'), p.assigned_to_id
    FROM p
    WHERE EXISTS (SELECT 1 FROM residence_residence_users WHERE residence_id = $2 AND user_id = $1)
    RETURNING task_json(n, residence_today(n.residence_id)) AS j
), k AS (
    INSERT INTO api_idempotencykey (user_id, idem_key, scope, status, body)
    SELECT $1, $4::text, $5::text, 201, t.j::text FROM t WHERE $4::text IS NOT NULL
)
SELECT t.j,
       (SELECT array_agg(user_id) FROM residence_residence_users WHERE residence_id = $2),
       t.j ->> 'id'
FROM t

-- name: tasks_update
-- $1 task, $2 user, $3 the validated changes as jsonb (absent keys keep their value).
WITH t AS (
    UPDATE task_task t
    SET (title, description, category, priority, due_date, frequency, custom_interval_days,
         estimated_cost, archived, schedule_anchor, assigned_to_id, updated_at) =
        (SELECT p.title, p.description, p.category, p.priority, p.due_date, p.frequency,
                p.custom_interval_days, p.estimated_cost, p.archived, p.schedule_anchor,
                p.assigned_to_id, now()
         FROM jsonb_populate_record(t, $3::jsonb) p)
    WHERE t.id = $1
      AND t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    RETURNING task_json(t, residence_today(t.residence_id)) AS j, t.residence_id
)
SELECT t.j,
       (SELECT array_agg(user_id) FROM residence_residence_users m WHERE m.residence_id = t.residence_id)
FROM t

-- name: tasks_set_state
-- Task $1, seen by user $2: $3 is 'archive', 'unarchive' (which also
-- reopens a cancelled task) or 'cancel' (the task will not be done; it
-- leaves the board like an archived one).
WITH t AS (
    UPDATE task_task t
    SET archived = CASE $3::text WHEN 'archive' THEN true WHEN 'unarchive' THEN false
                                 ELSE t.archived END,
        cancelled = CASE $3::text WHEN 'cancel' THEN true WHEN 'unarchive' THEN false
                                  ELSE t.cancelled END,
        updated_at = now()
    WHERE t.id = $1
      AND t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    RETURNING task_json(t, residence_today(t.residence_id)) AS j, t.residence_id
)
SELECT t.j,
       (SELECT array_agg(user_id) FROM residence_residence_users m WHERE m.residence_id = t.residence_id)
FROM t

-- name: tasks_delete
WITH t AS (
    DELETE FROM task_task t
    WHERE t.id = $1
      AND t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    RETURNING t.residence_id
)
SELECT (SELECT array_agg(user_id) FROM residence_residence_users m WHERE m.residence_id = t.residence_id)
FROM t

-- name: tasks_complete
-- User $2 completes ($6 = 'completed') or skips ($6 = 'skipped') the
-- current occurrence of task $1, with the fields $3 (jsonb); both are kept
-- in the task's history. A recurring task moves to its next due date,
-- counted from its due date or, for a completion of a task anchored to
-- completions, from today in the residence's time zone; month ends clamp
-- (Jan 31 + 1 month = Feb 28/29). A completed one-off task becomes
-- completed; a one-off task cannot be skipped.
-- $4/$5: Idempotency-Key (or NULL) and its scope, as for tasks_create.
-- A contractor ($3's contractor_id) must be one of the residence's.
-- One row: tasks found (0: 404), {"completion", "task"} (NULL: refused),
-- the members to invalidate, why it was refused (409), and whether the
-- contractor was the reason (422).
WITH t AS (
    SELECT t.*, (now() AT TIME ZONE r.time_zone)::date AS today
    FROM task_task t JOIN residence_residence r ON r.id = t.residence_id
    WHERE t.id = $1
      AND t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    FOR UPDATE OF t
), p AS (
    SELECT * FROM jsonb_populate_record(NULL::task_taskcompletion, $3::jsonb)
), bad AS (
    -- a contractor must be one of the task's residence's
    SELECT 1 FROM p, t
    WHERE p.contractor_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM contractor_contractor k
                      WHERE k.id = p.contractor_id AND k.residence_id = t.residence_id)
), c AS (
    INSERT INTO task_taskcompletion (task_id, completed_by_id, notes, actual_cost, rating,
                                     previous_due_date, kind, contractor_id)
    SELECT t.id, $2, coalesce(p.notes, ''), p.actual_cost, p.rating, t.due_date, $6::text,
           p.contractor_id
    FROM t, p
    WHERE NOT t.completed AND NOT t.archived AND NOT t.cancelled
      AND ($6::text = 'completed' OR t.frequency <> 'once')
      AND NOT EXISTS (SELECT 1 FROM bad)
    RETURNING *
), base AS (
    SELECT t.id, t.frequency, t.custom_interval_days,
           CASE WHEN t.due_date IS NULL THEN t.today
                WHEN t.schedule_anchor = 'completion' AND $6::text = 'completed' THEN t.today
                ELSE t.due_date END AS d
    FROM t
), u AS (
    UPDATE task_task tt
    SET due_date = CASE b.frequency
                       WHEN 'once' THEN tt.due_date
                       WHEN 'daily' THEN b.d + 1
                       WHEN 'weekly' THEN b.d + 7
                       WHEN 'biweekly' THEN b.d + 14
                       WHEN 'monthly' THEN (b.d + interval '1 month')::date
                       WHEN 'quarterly' THEN (b.d + interval '3 months')::date
                       WHEN 'semiannually' THEN (b.d + interval '6 months')::date
                       WHEN 'annually' THEN (b.d + interval '1 year')::date
                       WHEN 'custom' THEN b.d + b.custom_interval_days
                   END,
        completed = (b.frequency = 'once'),
        updated_at = now()
    FROM base b
    WHERE tt.id = b.id AND EXISTS (SELECT 1 FROM c)
    RETURNING task_json(tt, (SELECT today FROM t)) AS j
), answer AS (
    SELECT json_build_object('completion', row_to_json(c), 'task', u.j) AS body
    FROM c, u
), k AS (
    INSERT INTO api_idempotencykey (user_id, idem_key, scope, status, body)
    SELECT $2, $4::text, $5::text, 201, body::text FROM answer WHERE $4::text IS NOT NULL
)
SELECT (SELECT count(*) FROM t),
       (SELECT body FROM answer),
       (SELECT array_agg(user_id) FROM residence_residence_users
        WHERE residence_id = (SELECT residence_id FROM t)),
       (SELECT CASE WHEN t.completed THEN 'the task is already completed'
                    WHEN t.archived OR t.cancelled THEN 'the task is archived or cancelled'
                    ELSE 'only a recurring task can be skipped' END FROM t),
       EXISTS (SELECT 1 FROM bad)

-- name: tasks_completions retry
-- Task $1's completions, newest first; no row when user $2 cannot see the task.
SELECT (SELECT json_build_object('count', count(*),
                                 'results', coalesce(json_agg(c ORDER BY c.completed_at DESC, c.id DESC), '[]'))
        FROM task_taskcompletion c WHERE c.task_id = $1)
WHERE EXISTS (SELECT 1 FROM task_task t
              WHERE t.id = $1
                AND t.residence_id IN (SELECT residence_id FROM residence_residence_users
                                       WHERE user_id = $2))

-- name: tasks_completion_delete
-- Delete completion $3 of task $1 (user $2). When it was the latest, the
-- task gets back the due date it had before and is open again.
-- One row: completions deleted, the members to invalidate.
WITH t AS (
    SELECT t.id, t.residence_id FROM task_task t
    WHERE t.id = $1
      AND t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    FOR UPDATE OF t
), c AS (
    SELECT c.* FROM task_taskcompletion c JOIN t ON c.task_id = t.id WHERE c.id = $3
), latest AS (
    SELECT c2.id FROM task_taskcompletion c2 JOIN t ON c2.task_id = t.id
    ORDER BY c2.completed_at DESC, c2.id DESC LIMIT 1
), del AS (
    DELETE FROM task_taskcompletion d USING c WHERE d.id = c.id RETURNING d.id
), u AS (
    UPDATE task_task tt
    SET due_date = c.previous_due_date, completed = false, updated_at = now()
    FROM c, latest
    WHERE tt.id = c.task_id AND latest.id = c.id AND EXISTS (SELECT 1 FROM del)
    RETURNING tt.id
)
SELECT (SELECT count(*) FROM del),
       (SELECT array_agg(user_id) FROM residence_residence_users
        WHERE residence_id = (SELECT residence_id FROM t))
