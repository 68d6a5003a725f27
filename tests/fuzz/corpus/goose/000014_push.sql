-- Push notifications: each feed entry's delivery to each device its user
-- had when it was written. A trigger writes one pending row per device in
-- the same transaction as the entry, when the user has push on and wants
-- that kind ('system' always), so no path that writes the feed forgets the
-- push. honeydue-worker's push.send claims the pending rows of one entry
-- (a lease, so two runs never send the same row), sends, and marks each:
-- a device that got it is never pushed twice when the job retries.
-- notification_device keeps the last push's time and result for the admin
-- API's user view.

-- +goose Up
CREATE TABLE notification_push (
    notification_id bigint NOT NULL REFERENCES notification_notification (id) ON DELETE CASCADE,
    device_id       bigint NOT NULL REFERENCES notification_device (id) ON DELETE CASCADE,
    status          varchar(10) NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts        integer NOT NULL DEFAULT 0,
    claimed_until   timestamptz,
    last_error      varchar(200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    PRIMARY KEY (notification_id, device_id)
);
-- A device's rows go with it (ON DELETE CASCADE needs the index).
CREATE INDEX notification_push_device_id_idx ON notification_push (device_id);

ALTER TABLE notification_device
    ADD COLUMN last_push_at timestamptz,
    ADD COLUMN last_push_result varchar(200);

-- +goose StatementBegin
CREATE FUNCTION notification_push_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_push (notification_id, device_id)
    SELECT NEW.id, d.id
    FROM notification_device d
    JOIN notification_preference_effective e ON e.user_id = d.user_id
    WHERE d.user_id = NEW.user_id
      AND e.push_enabled
      AND (NEW.kind = 'system' OR coalesce((to_jsonb(e) ->> NEW.kind)::boolean, false));
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER notification_notification_push
    AFTER INSERT ON notification_notification
    FOR EACH ROW EXECUTE FUNCTION notification_push_pending();

-- +goose Down
DROP TRIGGER notification_notification_push ON notification_notification;
DROP FUNCTION notification_push_pending();
ALTER TABLE notification_device DROP COLUMN last_push_result, DROP COLUMN last_push_at;
DROP TABLE notification_push;
