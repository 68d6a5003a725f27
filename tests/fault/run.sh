#!/bin/bash
# run.sh BIN_DIR [FILTER...] - the fault suite (tests/fault/run.py) on a
# stack of its own: `make test-fault`, and tests/run.sh after the HTTP tests.
#
# Brings up a private stack under .run/fault (HD_FAULT_PORT_BASE, default
# HD_TEST_PORT_BASE + 100 when that is set, else 28180 (below Linux's ephemeral ports, 32768 up, which a client connection may hold): never the HTTP
# tests' ports) with a fresh database and BIN_DIR's pool (build/asan under
# make test), runs the fault tests against it, then stops it gracefully; a
# stack that does not start or stop, and every sanitizer report its
# processes left, count as one failure each. The last line is always
# "fault: N passed, M failed"; the exit status is 1 when M > 0.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
[ $# -ge 1 ] || {
    echo "usage: tests/fault/run.sh BIN_DIR [FILTER...]" >&2
    exit 2
}
BIN=$1
shift
[ -d "$BIN" ] || {
    echo "fault: no $BIN (build first: make build MODE=asan)" >&2
    exit 2
}
command -v wrk >/dev/null || {
    echo "fault: wrk is not installed (tests/deps.sh)" >&2
    echo "fault: 0 passed, 1 failed"
    exit 1
}
# shellcheck source=tests/suite.sh
. tests/suite.sh
suite_begin fault .run/fault
suite_port_base HD_FAULT_PORT_BASE 100 28180
suite_sanitizers
export HONEYDUE_WORKERS=2
# Low, so that test_statement_timeout's write gives up within a second.
export DB_STATEMENT_TIMEOUT=1000
export HD_PORT_BASE=$PORT_BASE
STACK_UP=1
if HD_FRESH_DB=1 tests/stack.sh up "$STATE" "$BIN" >"$TMP/up.out" 2>&1; then
    (
        set -a
        # shellcheck disable=SC1091
        . "$STATE/env"
        set +a
        exec "$PYTHON" tests/fault/run.py "$@"
    ) 2>&1 | tee "$TMP/fault.out" || true
    count_summary fault "$TMP/fault.out"
    if grep -q '^FAIL ' "$TMP/fault.out"; then
        echo "--- last 40 lines of $STATE/log/fcgi.log"
        tail -n 40 "$STATE/log/fcgi.log" 2>/dev/null || true
    fi
else
    cat "$TMP/up.out"
    echo "fault: the stack did not start: counted as one failure"
    failed=$((failed + 1))
fi

suite_stop

# Printed again after the reports, so it is the line tests/run.sh counts.
echo "fault: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
