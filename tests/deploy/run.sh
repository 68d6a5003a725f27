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
# when that is set, else 28280; the pod's nginx listens on that base + 4,
# the Redis pod on + 5).
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
# shellcheck source=tests/suite.sh
. tests/suite.sh
suite_begin deploy .run/deploy
suite_port_base HD_DEPLOY_PORT_BASE 200 28280
suite_sanitizers
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
        export DEPLOY_POD_PORT=$((PORT_BASE + 4)) DEPLOY_REDIS_PORT=$((PORT_BASE + 5))
        exec "$PYTHON" tests/deploy/run.py "$@"
    ) 2>&1 | tee "$TMP/deploy.out" || true
else
    cat "$TMP/stack.out"
    echo "deploy: the stack did not start: counted as one failure; the pod tests fail"
    failed=$((failed + 1))
    "$PYTHON" tests/deploy/run.py "$@" 2>&1 | tee "$TMP/deploy.out" || true
fi

suite_stop
count_summary deploy "$TMP/deploy.out"
echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
