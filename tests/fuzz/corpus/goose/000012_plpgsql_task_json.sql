-- task_json and residence_today as PL/pgSQL. As SQL functions that cannot be
-- inlined (each has a FROM), Postgres 15 parses and plans their bodies again
-- in every statement that calls them: 14% of all CPU in a POST /api/tasks/
-- run under perf (fmgr_sql). PL/pgSQL keeps each backend's plans. Same
-- answers, byte for byte; task_status stays SQL, so that the list queries,
-- which write task_json out, still inline it.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION task_json(t task_task, today date) RETURNS json
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT row_to_json(x) FROM (SELECT (t).*, task_status(t, today) AS status) x);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION residence_today(rid bigint) RETURNS date
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT (now() AT TIME ZONE time_zone)::date FROM residence_residence WHERE id = rid);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION task_json(t task_task, today date) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT row_to_json(x) FROM (SELECT t.*, task_status(t, today) AS status) x
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION residence_today(rid bigint) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (now() AT TIME ZONE time_zone)::date FROM residence_residence WHERE id = rid
$$;
-- +goose StatementEnd
