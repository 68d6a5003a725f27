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
-- $1 user, $2 residence, $3 the validated fields as jsonb. No row when the
-- user is not a member of the residence.
WITH p AS (
    SELECT * FROM jsonb_populate_record(NULL::task_task, $3::jsonb)
), t AS (
    INSERT INTO task_task (residence_id, created_by_id, title, description, category, priority,
                           due_date, frequency, custom_interval_days, estimated_cost, archived)
    SELECT $2, $1, p.title, coalesce(p.description, ''), coalesce(p.category, 'general'),
           coalesce(p.priority, 'medium'), p.due_date, coalesce(p.frequency, 'once'),
           p.custom_interval_days, p.estimated_cost, coalesce(p.archived, false)
    FROM p
    WHERE EXISTS (SELECT 1 FROM residence_residence_users WHERE residence_id = $2 AND user_id = $1)
    RETURNING *
)
SELECT row_to_json(t),
       (SELECT array_agg(user_id) FROM residence_residence_users WHERE residence_id = $2)
FROM t

-- name: tasks_update
-- $1 task, $2 user, $3 the validated changes as jsonb (absent keys keep their value).
WITH t AS (
    UPDATE task_task t
    SET (title, description, category, priority, due_date, frequency, custom_interval_days,
         estimated_cost, archived, updated_at) =
        (SELECT p.title, p.description, p.category, p.priority, p.due_date, p.frequency,
                p.custom_interval_days, p.estimated_cost, p.archived, now()
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
