-- A recurring task's next due date counts from its due date (a fixed
-- schedule: the 1st of every month) or from the day it was completed
-- ("every 90 days after I last did it"). A per-task choice.

-- +goose Up
ALTER TABLE task_task
    ADD COLUMN schedule_anchor varchar(12) NOT NULL DEFAULT 'due_date'
        CHECK (schedule_anchor IN ('due_date', 'completion'));

-- +goose Down
ALTER TABLE task_task DROP COLUMN schedule_anchor;
