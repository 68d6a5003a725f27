-- Named queries of fcgi-app/db.c: once per connection, after it is made.

-- name: session_warm_heap
-- Allocate and free $1 bytes in the backend. glibc then raises its trim
-- threshold to twice that, so the backend stops returning its heap to the
-- kernel after every task list it builds and growing it again on the next
-- (brk and the TLB shootdowns that follow took 45% of a backend's time in
-- perf, and cut the uncached list from ~2500 to ~900 req/s on 2 cores).
SELECT length(repeat('x', $1::int))
