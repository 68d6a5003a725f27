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
STATE=.run/fault
PYTHON=/usr/bin/python3
mkdir -p "$STATE/log"
STATE_ABS=$(cd "$STATE" && pwd)

# One fault run at a time per tree: a second one waits for the first.
exec 8>"$REPO/.run/fault.lock"
if ! flock -n 8; then
    echo "fault: another run holds $REPO/.run/fault.lock; waiting for it"
    flock 8
fi

if [ -n "${HD_FAULT_PORT_BASE:-}" ]; then
    PORT_BASE=$HD_FAULT_PORT_BASE
elif [ -n "${HD_TEST_PORT_BASE:-}" ]; then
    PORT_BASE=$((HD_TEST_PORT_BASE + 100))
else
    PORT_BASE=28180
fi

TMP=$(mktemp -d /tmp/hd-fault.XXXXXX)
STACK_UP=0
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    if [ "$STACK_UP" = 1 ]; then
        tests/stack.sh down "$STATE" >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0

tests/stack.sh down "$STATE" >/dev/null 2>&1 || true
rm -f "$STATE"/log/asan.* "$STATE"/log/ubsan.*
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$STATE_ABS/log/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$STATE_ABS/log/ubsan"
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
    line=$(grep -E '^fault: [0-9]+ passed, [0-9]+ failed$' "$TMP/fault.out" | tail -n 1 || true)
    if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        passed=${BASH_REMATCH[1]}
        failed=${BASH_REMATCH[2]}
    else
        echo "fault: run.py ended without a summary line: counted as one failure"
        failed=1
    fi
    if grep -q '^FAIL ' "$TMP/fault.out"; then
        echo "--- last 40 lines of $STATE/log/fcgi.log"
        tail -n 40 "$STATE/log/fcgi.log" 2>/dev/null || true
    fi
else
    cat "$TMP/up.out"
    echo "fault: the stack did not start: counted as one failure"
    failed=1
fi

STACK_UP=0
if ! tests/stack.sh down "$STATE" >"$TMP/down.out" 2>&1; then
    cat "$TMP/down.out"
    echo "fault: the stack did not stop gracefully: counted as one failure"
    failed=$((failed + 1))
fi
for f in "$STATE"/log/asan.* "$STATE"/log/ubsan.*; do
    [ -e "$f" ] || continue
    echo "--- sanitizer report $f"
    cat "$f"
    failed=$((failed + 1))
done

# Printed again after the reports, so it is the line tests/run.sh counts.
echo "fault: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
