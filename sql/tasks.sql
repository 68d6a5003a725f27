-- Named queries of handlers/tasks.c.
-- Authorization is part of every query: a task is visible only through a
-- residence the requesting user is a member of. Writes return the members
-- of the affected residence, whose cached lists the handler invalidates.

-- name: tasks_list
-- The body of GET /api/tasks/ for user $1, built by Postgres in one pass.
SELECT json_build_object('count', count(*),
                         'results', coalesce(json_agg(t ORDER BY t.due_date NULLS LAST, t.id), '[]'))
FROM task_task t
WHERE t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $1)

-- name: tasks_get
SELECT row_to_json(t)
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
    INSERT INTO task_task (residence_id, created_by_id, title, description, category, priority,
                           due_date, frequency, custom_interval_days, estimated_cost, archived,
                           schedule_anchor)
    SELECT $2, $1, p.title, coalesce(p.description, ''), coalesce(p.category, 'general'),
           coalesce(p.priority, 'medium'), p.due_date, coalesce(p.frequency, 'once'),
           p.custom_interval_days, p.estimated_cost, coalesce(p.archived, false),
           coalesce(p.schedule_anchor, 'due_date')
    FROM p
    WHERE EXISTS (SELECT 1 FROM residence_residence_users WHERE residence_id = $2 AND user_id = $1)
    RETURNING *
), k AS (
    INSERT INTO api_idempotencykey (user_id, idem_key, scope, status, body)
    SELECT $1, $4::text, $5::text, 201, row_to_json(t)::text FROM t WHERE $4::text IS NOT NULL
)
SELECT row_to_json(t),
       (SELECT array_agg(user_id) FROM residence_residence_users WHERE residence_id = $2)
FROM t

-- name: tasks_update
-- $1 task, $2 user, $3 the validated changes as jsonb (absent keys keep their value).
WITH t AS (
    UPDATE task_task t
    SET (title, description, category, priority, due_date, frequency, custom_interval_days,
         estimated_cost, archived, schedule_anchor, updated_at) =
        (SELECT p.title, p.description, p.category, p.priority, p.due_date, p.frequency,
                p.custom_interval_days, p.estimated_cost, p.archived, p.schedule_anchor, now()
         FROM jsonb_populate_record(t, $3::jsonb) p)
    WHERE t.id = $1
      AND t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    RETURNING t.*
)
SELECT row_to_json(t),
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
-- User $2 completes task $1 with the completion fields $3 (jsonb). A
-- recurring task moves to its next due date, counted from its due date or
-- from today in the residence's time zone (schedule_anchor); month ends clamp
-- (Jan 31 + 1 month = Feb 28/29). A one-off task becomes completed.
-- $4/$5: Idempotency-Key (or NULL) and its scope, as for tasks_create.
-- One row: tasks found (0: 404), {"completion", "task"} (NULL: already
-- completed or archived), the members to invalidate.
WITH t AS (
    SELECT t.*, (now() AT TIME ZONE r.time_zone)::date AS today
    FROM task_task t JOIN residence_residence r ON r.id = t.residence_id
    WHERE t.id = $1
      AND t.residence_id IN (SELECT residence_id FROM residence_residence_users WHERE user_id = $2)
    FOR UPDATE OF t
), p AS (
    SELECT * FROM jsonb_populate_record(NULL::task_taskcompletion, $3::jsonb)
), c AS (
    INSERT INTO task_taskcompletion (task_id, completed_by_id, notes, actual_cost, rating,
                                     previous_due_date)
    SELECT t.id, $2, coalesce(p.notes, ''), p.actual_cost, p.rating, t.due_date
    FROM t, p
    WHERE NOT t.completed AND NOT t.archived
    RETURNING *
), base AS (
    SELECT t.id, t.frequency, t.custom_interval_days,
           CASE WHEN t.schedule_anchor = 'completion' OR t.due_date IS NULL THEN t.today
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
    RETURNING tt.*
), answer AS (
    SELECT json_build_object('completion', row_to_json(c), 'task', row_to_json(u)) AS body
    FROM c, u
), k AS (
    INSERT INTO api_idempotencykey (user_id, idem_key, scope, status, body)
    SELECT $2, $4::text, $5::text, 201, body::text FROM answer WHERE $4::text IS NOT NULL
)
SELECT (SELECT count(*) FROM t),
       (SELECT body FROM answer),
       (SELECT array_agg(user_id) FROM residence_residence_users
        WHERE residence_id = (SELECT residence_id FROM t))

-- name: tasks_completions
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
