-- Named queries of fcgi-app/queue.c: the Postgres outbox that keeps a job
-- when Redis cannot take it. honeydue-worker drains it into Redis.

-- name: queue_outbox_insert
INSERT INTO queue_outbox (job) VALUES ($1::jsonb)
