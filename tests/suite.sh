# shellcheck shell=bash disable=SC2034 # the variables set here are the callers'
# suite.sh - sourced by tests/run.sh, tests/fault/run.sh and
# tests/deploy/run.sh: what a suite with a private stack needs, once.
# The caller has set REPO and cd'ed there, with `set -euo pipefail`.

# suite_begin NAME STATE: PYTHON (Debian's, whatever PATH finds first), STATE
# and STATE_ABS, a per-tree lock .run/NAME.lock (a second run of the same
# suite waits for the first), TMP (removed at exit, with the stack stopped
# if it is still up), and passed=failed=0.
suite_begin() {
    SUITE=$1
    STATE=$2
    PYTHON=/usr/bin/python3
    mkdir -p "$STATE/log"
    STATE_ABS=$(cd "$STATE" && pwd)
    local lock=$REPO/.run/$SUITE.lock
    exec {SUITE_LOCK}>"$lock"
    if ! flock -n "$SUITE_LOCK"; then
        echo "$SUITE: another run holds $lock; waiting for it"
        flock "$SUITE_LOCK"
    fi
    TMP=$(mktemp -d "/tmp/hd-$SUITE.XXXXXX")
    STACK_UP=0
    trap suite_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    passed=0
    failed=0
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
suite_cleanup() {
    if [ "$STACK_UP" = 1 ]; then
        tests/stack.sh down "$STATE" >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}

# suite_port_base VAR OFFSET DEFAULT: PORT_BASE from $VAR when set, else
# HD_TEST_PORT_BASE + OFFSET when that is set, else DEFAULT (all below
# Linux's ephemeral ports, 32768 up, which a client connection may hold).
suite_port_base() {
    if [ -n "${!1:-}" ]; then
        PORT_BASE=${!1}
    elif [ -n "${HD_TEST_PORT_BASE:-}" ]; then
        PORT_BASE=$((HD_TEST_PORT_BASE + $2))
    else
        PORT_BASE=$3
    fi
}

# suite_sanitizers: stop what a previous run left, drop its sanitizer
# reports, and have this run's processes write theirs under STATE/log.
suite_sanitizers() {
    tests/stack.sh down "$STATE" >/dev/null 2>&1 || true
    rm -f "$STATE"/log/asan.* "$STATE"/log/ubsan.*
    # The pool's and the worker's logs start empty, so what suite_stop finds
    # in them is this run's.
    rm -f "$STATE"/log/fcgi.log "$STATE"/log/worker.log
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$STATE_ABS/log/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$STATE_ABS/log/ubsan"
}

# count_summary PREFIX FILE: add the "PREFIX: N passed, M failed" line of FILE
# to the totals; no such line (a crash) counts as one failure.
count_summary() {
    local line
    line=$(grep -E "^$1: [0-9]+ passed, [0-9]+ failed$" "$2" | tail -n 1 || true)
    if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
    else
        echo "$SUITE: $1 tests ended without a summary line: counted as one failure"
        failed=$((failed + 1))
    fi
}

# suite_stop: a graceful stop, so that every process's LeakSanitizer runs
# (a stop that fails counts as one failure); then each sanitizer report the
# processes left is a failure.
suite_stop() {
    STACK_UP=0
    if ! tests/stack.sh down "$STATE" >"$TMP/down.out" 2>&1; then
        cat "$TMP/down.out"
        echo "$SUITE: the stack did not stop gracefully: counted as one failure"
        failed=$((failed + 1))
    fi
    local f
    # A name that sql/ does not define answers 503 and logs this line; every
    # one the suite's requests and jobs reached counts as a failure.
    for f in "$STATE"/log/fcgi.log "$STATE"/log/worker.log; do
        [ -e "$f" ] || continue
        if grep -h '"no query named' "$f"; then
            echo "$SUITE: $f names a query that sql/ does not define: counted as one failure"
            failed=$((failed + 1))
        fi
    done
    for f in "$STATE"/log/asan.* "$STATE"/log/ubsan.*; do
        [ -e "$f" ] || continue
        echo "--- sanitizer report $f"
        cat "$f"
        failed=$((failed + 1))
    done
}
