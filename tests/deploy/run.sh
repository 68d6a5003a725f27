#!/bin/bash
# run.sh BIN_DIR [FILTER...] - the deploy tests (tests/deploy/run.py):
# `make test-deploy`, and tests/run.sh after the fault suite. No cluster,
# no Docker engine and no kubectl are needed.
#
# The manifests, the Dockerfile and deploy.sh are checked as files; the pod
# tests start the API Deployment's, the worker's and the migrate Job's
# commands on this host (tests/deploy/pod.py), for which this brings up a
# private stack under .run/deploy (Postgres, Redis and the SMTP sink are
# what the pods use; HD_DEPLOY_PORT_BASE, default HD_TEST_PORT_BASE + 200
# when that is set, else 28280; the pod's nginx listens on that base + 4).
# A stack that does not start or stop, and every sanitizer report its
# processes left, count as one failure each (the pods' own reports fail
# their tests). The last line is always "deploy: N passed, M failed"; the
# exit status is 1 when M > 0.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
[ $# -ge 1 ] || {
    echo "usage: tests/deploy/run.sh BIN_DIR [FILTER...]" >&2
    exit 2
}
BIN=$(cd "$1" 2>/dev/null && pwd) || {
    echo "deploy: no $1 (build first: make build MODE=asan)" >&2
    exit 2
}
shift
STATE=.run/deploy
PYTHON=/usr/bin/python3
mkdir -p "$STATE/log"
STATE_ABS=$(cd "$STATE" && pwd)

# One deploy run at a time per tree.
exec 7>"$REPO/.run/deploy.lock"
if ! flock -n 7; then
    echo "deploy: another run holds $REPO/.run/deploy.lock; waiting for it"
    flock 7
fi

if [ -n "${HD_DEPLOY_PORT_BASE:-}" ]; then
    PORT_BASE=$HD_DEPLOY_PORT_BASE
elif [ -n "${HD_TEST_PORT_BASE:-}" ]; then
    PORT_BASE=$((HD_TEST_PORT_BASE + 200))
else
    PORT_BASE=28280
fi

TMP=$(mktemp -d /tmp/hd-deploy.XXXXXX)
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

extra_failed=0
tests/stack.sh down "$STATE" >/dev/null 2>&1 || true
rm -f "$STATE"/log/asan.* "$STATE"/log/ubsan.*
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$STATE_ABS/log/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$STATE_ABS/log/ubsan"
export HONEYDUE_WORKERS=1 HONEYDUE_JOB_WORKERS=1
export DEPLOY_BIN=$BIN
STACK_UP=1
if HD_PORT_BASE=$PORT_BASE HD_FRESH_DB=1 tests/stack.sh up "$STATE" "$BIN" >"$TMP/stack.out" 2>&1; then
    (
        set -a
        # shellcheck disable=SC1091
        . "$STATE/env"
        set +a
        unset ASAN_OPTIONS UBSAN_OPTIONS # the pods set their own
        export DEPLOY_POD_PORT=$((PORT_BASE + 4))
        exec "$PYTHON" tests/deploy/run.py "$@"
    ) 2>&1 | tee "$TMP/deploy.out" || true
else
    cat "$TMP/stack.out"
    echo "deploy: the stack did not start: counted as one failure; the pod tests fail"
    extra_failed=$((extra_failed + 1))
    "$PYTHON" tests/deploy/run.py "$@" 2>&1 | tee "$TMP/deploy.out" || true
fi

STACK_UP=0
if ! tests/stack.sh down "$STATE" >"$TMP/down.out" 2>&1; then
    cat "$TMP/down.out"
    echo "deploy: the stack did not stop gracefully: counted as one failure"
    extra_failed=$((extra_failed + 1))
fi
for f in "$STATE"/log/asan.* "$STATE"/log/ubsan.*; do
    [ -e "$f" ] || continue
    echo "--- sanitizer report $f"
    cat "$f"
    extra_failed=$((extra_failed + 1))
done

line=$(grep -E '^deploy: [0-9]+ passed, [0-9]+ failed$' "$TMP/deploy.out" | tail -n 1 || true)
if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    passed=${BASH_REMATCH[1]} failed=$((BASH_REMATCH[2] + extra_failed))
else
    echo "deploy: the tests ended without a summary line: counted as one failure"
    passed=0 failed=$((extra_failed + 1))
fi
echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
