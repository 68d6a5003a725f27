-- The task lifecycle beyond "done": cancel, skip one occurrence (kept in the
-- history next to completions), assign to a member of the residence, and the
-- derived status every task's JSON carries.

-- +goose Up
ALTER TABLE task_task
    ADD COLUMN cancelled boolean NOT NULL DEFAULT false,
    ADD COLUMN assigned_to_id bigint;
-- Only a member of the task's residence can be assigned; when they leave it
-- (or their account is deleted) the task becomes unassigned.
ALTER TABLE task_task
    ADD CONSTRAINT task_task_assigned_member_fk
        FOREIGN KEY (residence_id, assigned_to_id)
        REFERENCES residence_residence_users (residence_id, user_id)
        ON DELETE SET NULL (assigned_to_id);
CREATE INDEX task_task_assigned_to_id_idx ON task_task (assigned_to_id)
    WHERE assigned_to_id IS NOT NULL;

ALTER TABLE task_taskcompletion
    ADD COLUMN kind varchar(10) NOT NULL DEFAULT 'completed'
        CHECK (kind IN ('completed', 'skipped'));

-- A task's status on day TODAY (its residence's local date). One definition,
-- used by every query that answers a task.
-- +goose StatementBegin
CREATE FUNCTION task_status(t task_task, today date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN t.archived OR t.cancelled THEN 'archived'
        WHEN t.completed THEN 'completed'
        WHEN t.due_date IS NULL THEN 'upcoming'
        WHEN t.due_date < today THEN 'overdue'
        WHEN t.due_date <= today + 7 THEN 'due_soon'
        ELSE 'upcoming'
    END
$$;
-- +goose StatementEnd

-- The JSON of a task as the API answers it: its columns and its status.
-- +goose StatementBegin
CREATE FUNCTION task_json(t task_task, today date) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT (to_jsonb(t) || jsonb_build_object('status', task_status(t, today)))::json
$$;
-- +goose StatementEnd

-- "Today" where residence RID is.
-- +goose StatementBegin
CREATE FUNCTION residence_today(rid bigint) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (now() AT TIME ZONE time_zone)::date FROM residence_residence WHERE id = rid
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION residence_today(bigint);
DROP FUNCTION task_json(task_task, date);
DROP FUNCTION task_status(task_task, date);
ALTER TABLE task_taskcompletion DROP COLUMN kind;
DROP INDEX task_task_assigned_to_id_idx;
ALTER TABLE task_task DROP CONSTRAINT task_task_assigned_member_fk;
ALTER TABLE task_task DROP COLUMN assigned_to_id, DROP COLUMN cancelled;
