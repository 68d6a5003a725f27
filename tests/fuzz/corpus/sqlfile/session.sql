-- Named queries of fcgi-app/db.c: once per connection, after it is made.
-- A query marked "retry" after its name is safe to run twice: db.c runs it
-- once more on a new connection when Postgres went away under it. Reads are
-- marked; a write is not, unless a second run is harmless and its comment
-- says why (see fcgi-app/sqlfile.h).

-- name: session_warm_heap retry
-- Allocate and free $1 bytes in the backend. glibc then raises its trim
-- threshold to twice that, so the backend stops returning its heap to the
-- kernel after every task list it builds and growing it again on the next
-- (brk and the TLB shootdowns that follow took 45% of a backend's time in
-- perf, and cut the uncached list from ~2500 to ~900 req/s on 2 cores).
SELECT length(repeat('x', $1::int))
