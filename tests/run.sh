#!/bin/bash
# run.sh BIN_DIR - the whole test suite, as `make test` runs it (BIN_DIR is
# build/asan there): the C unit tests, the fuzz harnesses for a few seconds
# each (tests/fuzz/run.sh, one test per harness), the contract's lint (openapi.yaml
# against handlers/routes.c, counted as one test), then a private stack
# under .run/test (HD_PORT_BASE 28080, a fresh database, the sanitized pool)
# and the HTTP tests through its nginx, then mail_send into the stack's SMTP
# sink (tests/unit/smtp_send.c), the S3 client against the stack's S3
# server (tests/unit/s3_client.c) and the push clients against its push
# server (tests/unit/push_client.c), the documents suite again on
# STORAGE_BACKEND=s3, then the admin panel in Debian's Chromium
# (tests/browser/run.mjs, playwright-core installed by tests/deps.sh), then
# a graceful stop, after which every sanitizer report the processes left
# (leaks included) counts as one failure; then the fault suite (tests/fault/run.sh) on a stack of its own
# under .run/fault (HD_TEST_PORT_BASE + 100, else 28180), counted likewise;
# then the deploy tests (tests/deploy/run.sh: deploy/'s manifests,
# Dockerfile and deploy.sh, and the pods run on this host, with a stack of
# their own under .run/deploy, HD_TEST_PORT_BASE + 200, else 28280),
# counted likewise. The last line is always "N passed, M failed"; the exit status is
# 1 when M > 0. Python is Debian's /usr/bin/python3, whatever python3 PATH
# finds first: the HTTP tests need its python3-yaml and python3-jsonschema.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
[ $# -eq 1 ] || {
    echo "usage: tests/run.sh BIN_DIR" >&2
    exit 2
}
BIN=$1
[ -d "$BIN" ] || {
    echo "run: no $BIN (build first: make build MODE=asan)" >&2
    exit 2
}
# shellcheck source=tests/suite.sh
. tests/suite.sh
suite_begin test .run/test

# (a) Unit tests. Sanitizer reports go to their stderr, where tests/unit/run.sh
# sees them.
shopt -s nullglob
units=("$BIN"/tests/test_*)
shopt -u nullglob
bash tests/unit/run.sh "${units[@]}" 2>&1 | tee "$TMP/unit.out" || true
count_summary unit "$TMP/unit.out"

# (a0) The fuzz harnesses (tests/fuzz/, built with clang in build/fuzz),
# each a test: FUZZ_TEST_SECONDS (default 8) from its committed seeds; any
# crash, leak, sanitizer report or broken promise fails it (tests/fuzz/run.sh
# keeps the input in build/fuzz/crashes/). `make fuzz` runs them longer.
if make --no-print-directory fuzz-build MODE=fuzz -j"$(nproc)" >"$TMP/build-fuzz.out" 2>&1; then
    bash tests/fuzz/run.sh build/fuzz "${FUZZ_TEST_SECONDS:-8}" 2>&1 | tee "$TMP/fuzz.out" || true
    count_summary fuzz "$TMP/fuzz.out"
else
    grep -E "error|warning" "$TMP/build-fuzz.out" | head -20
    echo "FAIL fuzz build (make fuzz-build MODE=fuzz)"
    failed=$((failed + 1))
fi

# (a1) The release build (-O2, what make run, make bench and the image
# build) compiles too: its optimizer warns where -O1 does not (a header
# line cut short once broke make run with the sanitized build green).
if make --no-print-directory build MODE=rel -j"$(nproc)" >"$TMP/build-rel.out" 2>&1; then
    passed=$((passed + 1))
else
    grep -E "error|warning" "$TMP/build-rel.out" | head -20
    echo "FAIL release build (make build MODE=rel)"
    failed=$((failed + 1))
fi

# (a2) The contract: openapi.yaml is well formed and documents exactly the
# routes of handlers/routes.c.
if "$PYTHON" tests/openapi_lint.py openapi.yaml 2>&1; then
    passed=$((passed + 1))
else
    echo "FAIL openapi lint"
    failed=$((failed + 1))
fi
# ... and every configuration key the code reads is in config.c's table and
# the Configuration table of docs/operations.md.
if "$PYTHON" tests/config_lint.py 2>&1; then
    passed=$((passed + 1))
else
    echo "FAIL config lint"
    failed=$((failed + 1))
fi
# ... and every relative link and anchor in README.md and docs/ resolves.
if "$PYTHON" tests/docs_links.py 2>&1; then
    passed=$((passed + 1))
else
    echo "FAIL docs links"
    failed=$((failed + 1))
fi

# (b) The stack: whatever a previous run left is stopped; the cluster stays,
# the databases are recreated. The pool inherits the sanitizer settings.
suite_sanitizers
export HONEYDUE_WORKERS=2
# The job worker on a short clock, so retries, leases and periodic runs can
# be watched within a test.
export HONEYDUE_JOB_RETRY_BASE_MS=200 HONEYDUE_JOB_LEASE_SECONDS=3 HONEYDUE_REMINDER_EVERY_SECONDS=2
# documents.reconcile removes orphaned files ten minutes old rather than a
# day: its tests (test_documents.py) age the files they plant just past
# this, so they fail if the setting is not read.
export HONEYDUE_DOCUMENT_ORPHAN_GRACE_SECONDS=600
# The bucket's stall tests wait this long, not S3's default 30 s.
export S3_TIMEOUT_SECONDS=3
# Server-Timing is off by default; the HTTP tests read it.
export HONEYDUE_SERVER_TIMING=true
# Sign-ups per client address: the suites register many users from
# 127.0.0.1 (the browser's ~30); test_throttle.py reads this and reaches it.
export HONEYDUE_REGISTER_PER_HOUR=300
export HD_PORT_BASE=${HD_TEST_PORT_BASE:-28080}
STACK_UP=1
if HD_FRESH_DB=1 tests/stack.sh up "$STATE" "$BIN"; then
    # (c) The HTTP tests, through nginx, with the stack's environment.
    (
        set -a
        # shellcheck disable=SC1091
        . "$STATE/env"
        set +a
        exec "$PYTHON" tests/http/run.py
    ) 2>&1 | tee "$TMP/http.out" || true
    count_summary http "$TMP/http.out"
    if grep -q '^FAIL ' "$TMP/http.out"; then
        echo "--- last 40 lines of $STATE/log/fcgi.log"
        tail -n 40 "$STATE/log/fcgi.log" 2>/dev/null || true
    fi
    # (c2) mail_send (libcurl) into the stack's SMTP sink: a C test binary
    # that needs a server, so it runs here rather than with the unit tests.
    (
        set -a
        # shellcheck disable=SC1091
        . "$STATE/env"
        set +a
        export HD_SMTP_TEST_URL=$SMTP_URL HD_SMTP_TEST_DIR=$HD_MAIL_DIR
        # Two more sinks as a provider's submission ports are: STARTTLS and
        # AUTH required (+5), implicit TLS and AUTH (+6), with a certificate
        # and a password made for this run.
        tls=$TMP/tls
        mkdir -p "$tls/mail"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
            -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
            -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>"$tls/openssl.log"
        pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
        p1=$((HD_PORT_BASE + 5)) p2=$((HD_PORT_BASE + 6))
        for a in "--port $p1" "--port $p2 --implicit-tls"; do
            # shellcheck disable=SC2086 # two words each, on purpose
            "$PYTHON" tests/smtp_sink.py $a --dir "$tls/mail" --tls-cert "$tls/cert.pem" \
                --tls-key "$tls/key.pem" --auth "honeydue:$pw" 2>>"$tls/sinks.log" &
        done
        for p in $p1 $p2; do
            for _ in $(seq 50); do
                (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break
                sleep 0.1
            done
        done
        export HD_SMTP_TLS_URL="smtp+starttls://honeydue:$pw@127.0.0.1:$p1"
        export HD_SMTPS_URL="smtps://honeydue:$pw@127.0.0.1:$p2"
        export HD_SMTP_TLS_PLAIN_URL="smtp://127.0.0.1:$p1"
        export HD_SMTP_CA_FILE=$tls/cert.pem HD_SMTP_TLS_DIR=$tls/mail
        rc=0
        "$BIN/tests/smtp_send" || rc=$?
        jobs -p | xargs -r kill 2>/dev/null || true
        wait 2>/dev/null || true
        exit "$rc"
    ) 2>&1 | sed -u 's/^\([0-9]* passed, [0-9]* failed\)$/smtp: \1/' | tee "$TMP/smtp.out" || true
    count_summary smtp "$TMP/smtp.out"
    # (c3) the S3 client (fcgi-app/s3.c) against the stack's S3 server,
    # which checks every signature with botocore: a C test binary too.
    (
        set -a
        # shellcheck disable=SC1091
        . "$STATE/env"
        set +a
        exec "$BIN/tests/s3_client"
    ) 2>&1 | sed -u 's/^\([0-9]* passed, [0-9]* failed\)$/s3: \1/' | tee "$TMP/s3.out" || true
    count_summary s3 "$TMP/s3.out"
    # (c3b) the push providers' clients (fcgi-app/apns.c, fcm.c) against the
    # stack's push server: what the HTTP tests cannot reach through a job.
    (
        set -a
        # shellcheck disable=SC1091
        . "$STATE/env"
        set +a
        exec "$BIN/tests/push_client"
    ) 2>&1 | sed -u 's/^\([0-9]* passed, [0-9]* failed\)$/push: \1/' | tee "$TMP/push.out" || true
    count_summary push "$TMP/push.out"
    # (c4) the documents suite again, with the pool and the worker on
    # STORAGE_BACKEND=s3 (the stack's S3 server), and the bucket's failures.
    if tests/stack.sh storage-backend "$STATE" s3 "$BIN" >"$TMP/s3-switch.out" 2>&1; then
        (
            set -a
            # shellcheck disable=SC1091
            . "$STATE/env"
            set +a
            exec "$PYTHON" tests/http/run.py test_documents
        ) 2>&1 | sed -u 's/^http: \([0-9]* passed, [0-9]* failed\)$/documents on s3: \1/' |
            tee "$TMP/docs-s3.out" || true
        count_summary "documents on s3" "$TMP/docs-s3.out"
    else
        cat "$TMP/s3-switch.out"
        echo "FAIL switching the stack to STORAGE_BACKEND=s3"
        failed=$((failed + 1))
    fi
    # (c5) The admin panel (static/admin/) in a real browser: Debian's
    # Chromium driven by playwright-core, against this stack, through its
    # nginx; its own data made through the API, psql and the jobs CLI.
    (
        set -a
        # shellcheck disable=SC1091
        . "$STATE/env"
        set +a
        exec node tests/browser/run.mjs
    ) 2>&1 | tee "$TMP/browser.out" || true
    count_summary browser "$TMP/browser.out"
else
    echo "run: the test stack did not start: counted as one failure; HTTP tests not run"
    failed=$((failed + 1))
fi

# (d) A graceful stop; then each sanitizer report is a failure.
suite_stop

# (d2) The fault suite: wrk against a stack of its own while the pool is
# reloaded and killed and Postgres and Redis go away (tests/fault/run.sh
# reports its own sanitizer findings in its counts).
bash tests/fault/run.sh "$BIN" 2>&1 | tee "$TMP/fault.out" || true
count_summary fault "$TMP/fault.out"

# (d3) The deploy suite: no cluster, the pods' commands run on this host.
bash tests/deploy/run.sh "$BIN" 2>&1 | tee "$TMP/deploy.out" || true
count_summary deploy "$TMP/deploy.out"

# (e) The one line CI reads.
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
