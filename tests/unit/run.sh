#!/bin/bash
# run.sh BIN... - run each unit test binary, print its failures, and end
# with one line "unit: N passed, M failed" summed over all of them.
passed=0; failed=0
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
    else
        failed=$((failed + 1))   # crashed or sanitizer abort: count the binary as one failure
    fi
    if [ $rc -ne 0 ]; then
        echo "--- $(basename "$t") (exit $rc)"; printf '%s\n' "$out" | grep -v '^ok ' | tail -n 40
    fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
