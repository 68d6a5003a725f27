-- Named queries of fcgi-app/queue.c: the Postgres outbox that keeps a job
-- when Redis cannot take it. honeydue-worker drains it into Redis.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: queue_outbox_insert
INSERT INTO queue_outbox (job) VALUES ($1::jsonb)
