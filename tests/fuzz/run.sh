#!/bin/bash
# run.sh BIN_DIR SECONDS [NAME...] - run each libFuzzer harness of
# tests/fuzz/ (built in BIN_DIR by `make fuzz-build MODE=fuzz`; all of them
# when no NAME is given) for SECONDS, one after another. Each starts from
# its committed seeds (tests/fuzz/corpus/NAME/, only read; goose and sqlfile
# also from migrations/ and sql/ themselves) and writes what
# it finds to a scratch corpus, BIN_DIR/corpus/NAME/, emptied first; a
# crash, leak, sanitizer report, FZ_CHECK failure or hang (10 s on one
# input) leaves its input in BIN_DIR/crashes/NAME/ and fails the harness.
# Prints one summary line per harness ("fuzz NAME: N execs, cov C, ft F,
# corpus K inputs (B bytes), 0 new crashes") and a last line
# "fuzz: N passed, M failed" (tests/run.sh counts each harness as a test).
# Exit status 1 when any failed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ $# -ge 2 ] || {
    echo "usage: tests/fuzz/run.sh BIN_DIR SECONDS [NAME...]" >&2
    exit 2
}
BIN=$1 SECONDS_EACH=$2
shift 2
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for src in "$REPO"/tests/fuzz/*.c; do
        names+=("$(basename "$src" .c)")
    done
fi
# The harnesses' own settings, whatever the caller's (tests/run.sh's stage
# runs before it sets a log path for the stack's processes).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

passed=0 failed=0
for name in "${names[@]}"; do
    bin=$BIN/fuzz/$name seeds=$REPO/tests/fuzz/corpus/$name
    work=$BIN/corpus/$name crashes=$BIN/crashes/$name log=$BIN/fuzz/$name.log
    if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
        echo "FAIL fuzz $name: no $bin or no $seeds"
        failed=$((failed + 1))
        continue
    fi
    rm -rf "$work" "$crashes"
    mkdir -p "$work" "$crashes"
    args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$crashes/")
    [ -f "$REPO/tests/fuzz/$name.dict" ] && args+=(-dict="$REPO/tests/fuzz/$name.dict")
    # The parsers of our own files also start from the files themselves, as
    # they are now (not copies in the corpus that would go stale): every
    # migration, and every named-query file (cut at 8 KB, as the seeds are).
    live=()
    case $name in
    goose) live=("$REPO/migrations") ;;
    sqlfile) live=("$REPO/sql") args+=(-max_len=8192) ;;
    esac
    "$bin" "${args[@]}" "$work" "$seeds" "${live[@]}" >"$log" 2>&1
    rc=$?
    # The last status line: "#123456 DONE cov: 812 ft: 2301 corp: 240/9880b ..."
    status=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status")
    corp=$(sed -nE 's/.* corp: ([0-9]+)\/([0-9]+[a-zA-Z]*).*/\1 inputs (\2)/p' <<<"$status")
    ncrash=$(find "$crashes" -type f | wc -l)
    line="fuzz $name: ${execs:-?} execs in ${SECONDS_EACH}s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, $ncrash crashes"
    if [ "$rc" -eq 0 ] && [ "$ncrash" -eq 0 ]; then
        echo "$line"
        passed=$((passed + 1))
    else
        echo "FAIL $line (exit $rc; log $log)"
        grep -E -A 30 '^==[0-9]+==ERROR|runtime error|FZ_CHECK|^SUMMARY|deadly signal|timeout' "$log" |
            head -n 40
        find "$crashes" -type f -printf '  input kept: %p\n'
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
