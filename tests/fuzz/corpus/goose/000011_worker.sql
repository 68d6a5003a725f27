-- What honeydue-worker needs of its own: the record that makes the daily
-- reminder at most once per user and local day (across restarts and
-- replicas), and the job that created a notification, so a job that runs
-- again (delivery is at-least-once) does not notify twice.

-- +goose Up
CREATE TABLE notification_reminderlog (
    user_id     bigint NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    local_date  date NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, local_date)
);

ALTER TABLE notification_notification ADD COLUMN source_job varchar(64);
CREATE UNIQUE INDEX notification_notification_source_job_key
    ON notification_notification (user_id, source_job) WHERE source_job IS NOT NULL;

-- +goose Down
DROP INDEX notification_notification_source_job_key;
ALTER TABLE notification_notification DROP COLUMN source_job;
DROP TABLE notification_reminderlog;
