-- Each user's next daily reminder as an instant, stored and indexed, so the
-- reminder sweep (jobs_reminders_claim) reads the users due now from an
-- index instead of recomputing every user's time zone over all memberships
-- for every batch (quadratic in users: at 100,000 users one batch of 200
-- took 85-220 ms).
--
-- due_at is when the reminder of the user's next local day without one is
-- owed: that day at reminder_hour in the time zone of the residence they
-- joined first (the rule the sweep always had). A user with reminders off,
-- no residence, or deactivated has no row. Triggers keep it current when
-- what it depends on changes: the user's preferences, memberships and
-- active flag, a residence's time zone, a reminder log row removed. The
-- sweep moves a claimed user's due_at to the next local day itself.

-- +goose Up
CREATE TABLE notification_reminder_due (
    user_id bigint PRIMARY KEY REFERENCES auth_user (id) ON DELETE CASCADE,
    due_at  timestamptz NOT NULL
);
CREATE INDEX notification_reminder_due_due_at_idx ON notification_reminder_due (due_at);

-- The user's first residence (joined_at, then residence id: the sweep's
-- order) without reading all of a user's memberships' residences.
CREATE INDEX residence_residence_users_first_idx
    ON residence_residence_users (user_id, joined_at, residence_id);

-- +goose StatementBegin
CREATE FUNCTION notification_reminder_due_at(uid bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT ((now() AT TIME ZONE r.time_zone)::date
            + CASE WHEN EXISTS (SELECT 1 FROM notification_reminderlog l
                                WHERE l.user_id = uid
                                  AND l.local_date = (now() AT TIME ZONE r.time_zone)::date)
                   THEN 1 ELSE 0 END
            + make_interval(hours => e.reminder_hour)) AT TIME ZONE r.time_zone
    FROM notification_preference_effective e
    CROSS JOIN LATERAL (SELECT m.residence_id FROM residence_residence_users m
                        WHERE m.user_id = uid
                        ORDER BY m.joined_at, m.residence_id LIMIT 1) f
    JOIN residence_residence r ON r.id = f.residence_id
    WHERE e.user_id = uid AND e.reminder
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION notification_reminder_reschedule(uid bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := notification_reminder_due_at(uid);
BEGIN
    IF at IS NULL THEN
        DELETE FROM notification_reminder_due WHERE user_id = uid;
    ELSIF EXISTS (SELECT 1 FROM auth_user WHERE id = uid) THEN
        INSERT INTO notification_reminder_due (user_id, due_at) VALUES (uid, at)
        ON CONFLICT (user_id) DO UPDATE SET due_at = EXCLUDED.due_at;
    END IF;
END
$$;
-- +goose StatementEnd

-- One trigger function for the tables whose rows name a user: the
-- trigger's argument is the column that does.
-- +goose StatementBegin
CREATE FUNCTION notification_reminder_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM notification_reminder_reschedule((to_jsonb(OLD) ->> TG_ARGV[0])::bigint);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE'
                            AND to_jsonb(NEW) ->> TG_ARGV[0] IS DISTINCT FROM to_jsonb(OLD) ->> TG_ARGV[0]) THEN
        PERFORM notification_reminder_reschedule((to_jsonb(NEW) ->> TG_ARGV[0])::bigint);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION notification_reminder_residence_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notification_reminder_reschedule(m.user_id)
    FROM residence_residence_users m WHERE m.residence_id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER notification_reminder_user
    AFTER UPDATE OF is_active ON auth_user
    FOR EACH ROW EXECUTE FUNCTION notification_reminder_user_changed('id');
CREATE TRIGGER notification_reminder_preference
    AFTER INSERT OR UPDATE OR DELETE ON notification_preference
    FOR EACH ROW EXECUTE FUNCTION notification_reminder_user_changed('user_id');
CREATE TRIGGER notification_reminder_membership
    AFTER INSERT OR UPDATE OR DELETE ON residence_residence_users
    FOR EACH ROW EXECUTE FUNCTION notification_reminder_user_changed('user_id');
CREATE TRIGGER notification_reminder_log_removed
    AFTER DELETE ON notification_reminderlog
    FOR EACH ROW EXECUTE FUNCTION notification_reminder_user_changed('user_id');
CREATE TRIGGER notification_reminder_time_zone
    AFTER UPDATE OF time_zone ON residence_residence
    FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION notification_reminder_residence_changed();

INSERT INTO notification_reminder_due (user_id, due_at)
SELECT u.id, notification_reminder_due_at(u.id) FROM auth_user u
WHERE notification_reminder_due_at(u.id) IS NOT NULL;

-- +goose Down
DROP TRIGGER notification_reminder_time_zone ON residence_residence;
DROP TRIGGER notification_reminder_log_removed ON notification_reminderlog;
DROP TRIGGER notification_reminder_membership ON residence_residence_users;
DROP TRIGGER notification_reminder_preference ON notification_preference;
DROP TRIGGER notification_reminder_user ON auth_user;
DROP FUNCTION notification_reminder_residence_changed();
DROP FUNCTION notification_reminder_user_changed();
DROP FUNCTION notification_reminder_reschedule(bigint);
DROP FUNCTION notification_reminder_due_at(bigint);
DROP INDEX residence_residence_users_first_idx;
DROP TABLE notification_reminder_due;
