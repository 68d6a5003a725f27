#!/usr/bin/env bash
# tests/load/bench.sh BIN_DIR - the `make bench` run (DESIGN.md section 11).
#
# Brings up a dedicated stack in .run/bench (nginx on 127.0.0.1:18080), starts
# the bare libfcgi responder (BIN_DIR/bare-fcgi, tests/load/bare.c) with as
# many processes as the API pool behind the same nginx, creates a user, a
# residence and 40 tasks through the API, then runs wrk (2 threads, 16
# connections, BENCH_SECONDS each, default 10, after a 2 s warm-up) against
# the bare responder and four API endpoints. Prints a Markdown table of req/s,
# p50, p99 and the ratio to the bare responder against the targets, then the
# pool workers' RSS and the time of a login (argon2id). The table is also
# written to .run/bench/results.md.
#
# Exit status: 0 when the bench ran, whether or not the targets were met (the
# table says which were); 1 when the stack, the bare responder or a setup
# request or a login failed, or a run produced no figures; 2 on bad usage.
set -euo pipefail
export LC_ALL=C # wrk's and awk's decimal points

if [[ $# -ne 1 ]]; then
    echo "usage: $0 BIN_DIR" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
if ! BIN_DIR=$(cd "$1" 2>/dev/null && pwd); then
    echo "bench: no such directory: $1" >&2
    exit 2
fi
for b in honeydue-fcgi honeydue-migrate bare-fcgi; do
    if [[ ! -x $BIN_DIR/$b ]]; then
        echo "bench: $BIN_DIR/$b is missing (make build MODE=rel)" >&2
        exit 1
    fi
done
for tool in wrk spawn-fcgi curl nginx; do
    command -v "$tool" >/dev/null || {
        echo "bench: $tool is not installed (tests/deps.sh)" >&2
        exit 1
    }
done

STATE=.run/bench
LOAD=tests/load
SECS=${BENCH_SECONDS:-10}
[[ $SECS =~ ^[1-9][0-9]*$ ]] || {
    echo "bench: BENCH_SECONDS must be a whole number of seconds" >&2
    exit 2
}
export HD_PORT_BASE=${BENCH_PORT_BASE:-18080}
SCRATCH=$(mktemp -d /tmp/hd-bench.XXXXXX)
RESULTS=""
STATUS=0

log() { echo "bench: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# The bare responder's processes, as spawn-fcgi -F recorded them (one pid a
# line), and only those that still run BIN_DIR/bare-fcgi (no pid reuse).
bare_pids() {
    local pid
    [[ -f $STATE/bare.pid ]] || return 0
    while read -r pid || [[ -n $pid ]]; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        if [[ $(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1) == */bare-fcgi ]]; then
            echo "$pid"
        fi
    done <"$STATE/bare.pid"
    return 0
}

stop_bare() {
    local pids i
    pids=$(bare_pids)
    if [[ -n $pids ]]; then
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        for ((i = 0; i < 30; i++)); do
            pids=$(bare_pids)
            [[ -z $pids ]] && break
            sleep 0.1
        done
        # shellcheck disable=SC2086
        [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
    fi
    rm -f "$STATE/bare.pid" "$STATE/bare.sock"
    return 0
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -z ${WRK_PID:-} ]] || kill -TERM "$WRK_PID" 2>/dev/null || true
    stop_bare
    tests/stack.sh down "$STATE" >&2 || log "tests/stack.sh down $STATE failed"
    # `down` may clear the state directory: keep the results anyway.
    if [[ -n $RESULTS && ! -f $STATE/results.md ]]; then
        mkdir -p "$STATE" && printf '%s\n' "$RESULTS" >"$STATE/results.md"
    fi
    rm -rf "$SCRATCH"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- the stack
stop_bare # left over from an interrupted run
log "starting the stack in $STATE (127.0.0.1:$HD_PORT_BASE)"
tests/stack.sh down "$STATE" >&2 || true
# A fresh database each run: the POST run adds thousands of tasks to one
# residence, which would skew the next run's data and query plans.
HD_FRESH_DB=1 tests/stack.sh up "$STATE" "$BIN_DIR" >&2 || die "tests/stack.sh up $STATE $BIN_DIR failed"
[[ -f $STATE/env ]] || die "tests/stack.sh up wrote no $STATE/env"
# shellcheck disable=SC1091
source "$STATE/env"
[[ -n ${API_URL:-} ]] || die "$STATE/env does not set API_URL"
[[ -f $STATE/fcgi.pid ]] || die "no $STATE/fcgi.pid"
MASTER=$(<"$STATE/fcgi.pid")
if ! [[ $MASTER =~ ^[0-9]+$ ]] || ! kill -0 "$MASTER" 2>/dev/null; then
    die "the pool (pid '$MASTER') is not running"
fi
WORKERS=${HONEYDUE_WORKERS:-}
if ! [[ $WORKERS =~ ^[1-9][0-9]*$ ]]; then
    WORKERS=$(ps -o pid= --ppid "$MASTER" | wc -l)
    ((WORKERS > 0)) || WORKERS=$(nproc)
    log "HONEYDUE_WORKERS is not set in $STATE/env; using $WORKERS"
fi

log "starting the bare responder: $WORKERS processes on $STATE/bare.sock"
spawn-fcgi -F "$WORKERS" -s "$STATE/bare.sock" -M 0666 -P "$STATE/bare.pid" \
    -- "$BIN_DIR/bare-fcgi" >/dev/null || die "spawn-fcgi could not start $BIN_DIR/bare-fcgi"

# ------------------------------------------------------------- setup via API
BODY=$SCRATCH/body.json
TOKEN=""
CODE=""

# api METHOD PATH [JSON]: the status lands in CODE, the body in $BODY.
api() {
    local args=(-sS -o "$BODY" -w '%{http_code}' -X "$1" --max-time 10)
    [[ -n $TOKEN ]] && args+=(-H "Authorization: Token $TOKEN")
    [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    CODE=$(curl "${args[@]}" "$API_URL$2" 2>"$SCRATCH/curl.err") || CODE="000"
}

# expect CODE WHAT: stop the bench unless the last request answered CODE.
expect() {
    [[ $CODE == "$1" ]] && return 0
    die "$2: expected $1, got $CODE: $(head -c 400 "$BODY" 2>/dev/null) $(cat "$SCRATCH/curl.err")"
}

# json_field KEY: a top-level scalar of the last response body.
json_field() {
    if command -v jq >/dev/null; then
        jq -er --arg k "$1" '.[$k] | scalars' "$BODY"
    else
        python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$BODY" "$1"
    fi
}

api GET /bench/bare
expect 200 "GET /bench/bare (the bare responder behind nginx)"
api GET /api/health/
expect 200 "GET /api/health/"

USERNAME="bench_$(date +%s)_$$"
PASSWORD="bench-password-$$"
api POST /api/auth/register/ \
    "{\"username\":\"$USERNAME\",\"email\":\"$USERNAME@example.com\",\"password\":\"$PASSWORD\"}"
expect 201 "POST /api/auth/register/"
TOKEN=$(json_field token) || die "POST /api/auth/register/: no token in $(head -c 400 "$BODY")"

api POST /api/residences/ '{"name":"Bench house"}'
expect 201 "POST /api/residences/"
RESIDENCE_ID=$(json_field id) || die "POST /api/residences/: no id in $(head -c 400 "$BODY")"
[[ $RESIDENCE_ID =~ ^[0-9]+$ ]] || die "POST /api/residences/: id is '$RESIDENCE_ID'"

log "creating 40 tasks in residence $RESIDENCE_ID"
for ((n = 1; n <= 40; n++)); do
    api POST /api/tasks/ "{\"residence_id\":$RESIDENCE_ID,\"title\":\"Task $n\",\"due_date\":\"2026-12-01\",\"priority\":\"medium\"}"
    expect 201 "POST /api/tasks/ (task $n)"
done
TASK_ID=$(json_field id)
USER_ID=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["created_by_id"])' "$BODY")
api GET /api/tasks/
expect 200 "GET /api/tasks/ (warm-up)"
export BENCH_TOKEN=$TOKEN BENCH_RESIDENCE_ID=$RESIDENCE_ID
# The job worker would compete for the 2 cores with what is measured here
# (it runs in its own pod in production): it waits until the jobs bench.
tests/stack.sh worker-stop "$STATE" >/dev/null

# ------------------------------------------------------------------ the runs
rss_of_workers() { ps -o pid=,rss= --ppid "$MASTER" 2>/dev/null | sort -n || true; }
RSS_BEFORE=$(rss_of_workers)

# to_ms VALUE: wrk's "836.00us" / "1.05ms" / "2.00s" / "1.00m" in ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
        if (f < 0) exit 1
        printf "%.2f", n * f }'
}

declare -A RPS P50 P99 NON2XX ERRS NOTE
TOTAL_REQUESTS=0

# wrk in the background, waited for: wrk handles SIGINT itself and exits 0,
# so bash would not act on a Ctrl-C while it waits for wrk in the foreground.
WRK_PID=""
bench_wrk() {
    local rc=0
    wrk -t2 -c16 "$@" &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    return "$rc"
}

# run NAME PATH SCRIPT: warm up 2 s, then measure SECS s.
# run NAME PATH [VAR=1...]: the VARs configure tests/load/request.lua.
run() {
    local name=$1 url=$API_URL$2 script=$LOAD/request.lua out=$SCRATCH/$1.txt lua wrk2 p50 p99 reqs
    local BENCH_AUTH=0 BENCH_NOCACHE=0 BENCH_POST=0 var
    for var in "${@:3}"; do local "$var"; done
    export BENCH_AUTH BENCH_NOCACHE BENCH_POST
    bench_wrk -d2s -s "$script" "$url" >/dev/null 2>&1 || true
    log "$name: wrk -t2 -c16 -d${SECS}s --latency $url"
    if ! bench_wrk -d"${SECS}s" --latency -s "$script" "$url" >"$out" 2>&1; then
        NOTE[$name]="wrk failed"
    fi
    RPS[$name]=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    P50[$name]=$([[ -n $p50 ]] && to_ms "$p50" || echo "?")
    P99[$name]=$([[ -n $p99 ]] && to_ms "$p99" || echo "?")
    lua=$(sed -n 's/^non2xx=\([0-9]*\)$/\1/p' "$out")
    wrk2=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
    [[ -n $lua ]] || NOTE[$name]+="${NOTE[$name]:+, }script error"
    NON2XX[$name]=$((${lua:-0} > ${wrk2:-0} ? ${lua:-0} : ${wrk2:-0}))
    ERRS[$name]=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")
    ERRS[$name]=${ERRS[$name]:-0}
    reqs=$(awk '/ requests in / {print $1}' "$out")
    TOTAL_REQUESTS=$((TOTAL_REQUESTS + ${reqs:-0}))
    if [[ -z ${RPS[$name]} || ${P99[$name]} == "?" ]]; then
        log "$name: no figures from wrk:"
        sed 's/^/    /' "$out" >&2
        RPS[$name]=""
        STATUS=1
    fi
    return 0
}

# Order matters: the POSTs invalidate the cached list, so they come last.
run bare /bench/bare
run health /api/health/
run tasks_hit /api/tasks/ BENCH_AUTH=1
run tasks_bypass /api/tasks/ BENCH_AUTH=1 BENCH_NOCACHE=1
run tasks_post /api/tasks/ BENCH_AUTH=1 BENCH_POST=1

RSS_AFTER=$(rss_of_workers)

# ------------------------------------------------------------------ login time
LOGIN_TIMES=()
TOKEN=""
for ((n = 1; n <= 5; n++)); do
    t=$(curl -sS -o "$BODY" -w '%{http_code} %{time_total}' -X POST --max-time 10 \
        -H 'Content-Type: application/json' \
        --data-binary "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" \
        "$API_URL/api/auth/login/" 2>"$SCRATCH/curl.err") || t="000 0"
    if [[ ${t%% *} != 200 ]]; then
        log "POST /api/auth/login/: expected 200, got ${t%% *}: $(head -c 400 "$BODY")"
        STATUS=1
        break
    fi
    LOGIN_TIMES+=("${t#* }")
done

# ------------------------------------------------------------------ jobs/s
# How fast honeydue-worker ($HONEYDUE_JOB_WORKERS processes) drains N jobs
# pushed in one go: a no-op (the queue's own cost: take, lease, ack) and
# notify.task_created (its SQL for a residence with one other member, who
# wants no email).
REDIS_HOST=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).hostname)' "$REDIS_URL")
REDIS_PORT=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).port or 6379)' "$REDIS_URL")
# The password in REDISCLI_AUTH, never on redis-cli's command line (ps shows it).
REDIS_PW=$(python3 -c 'import sys, urllib.parse as u; print(u.unquote(u.urlsplit(sys.argv[1]).password or ""))' "$REDIS_URL")
rcli() { REDISCLI_AUTH=$REDIS_PW redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
processed() {
    "$HD_BIN/honeydue-worker" jobs stats |
        python3 -c 'import json, sys; print(json.load(sys.stdin).get("processed:" + sys.argv[1], 0))' "$1"
}
# jobs_rate TYPE PAYLOAD N: jobs per second, or "?" when they did not finish.
jobs_rate() {
    local type=$1 payload=$2 n=$3 before t0 t1 done_n
    before=$(processed "$type")
    t0=$(date +%s.%N)
    rcli EVAL "for i = 1, tonumber(ARGV[1]) do redis.call('LPUSH', KEYS[1], string.format(
        '{\"id\":\"bench%s%08d\",\"type\":\"%s\",\"queue\":\"default\",\"payload\":%s,' ..
        '\"attempt\":0,\"max_attempts\":3,\"timeout\":30}', ARGV[4], i, ARGV[2], ARGV[3])) end return 1" \
        1 hd:queue:default "$n" "$type" "$payload" "$(date +%s)" >/dev/null
    for ((w = 0; w < 1200; w++)); do
        done_n=$(($(processed "$type") - before))
        ((done_n >= n)) && break
        sleep 0.05
    done
    t1=$(date +%s.%N)
    if ((done_n >= n)); then awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}'; else echo "?"; fi
}
api POST /api/auth/register/ \
    "{\"username\":\"${USERNAME}_2\",\"email\":\"${USERNAME}_2@example.com\",\"password\":\"$PASSWORD\"}"
expect 201 "POST /api/auth/register/ (a second member)"
MEMBER_TOKEN=$(json_field token)
MEMBER_ID=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["user"]["id"])' "$BODY")
psql -X -q -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB_NAME" -c \
    "INSERT INTO residence_residence_users (residence_id, user_id) VALUES ($RESIDENCE_ID, $MEMBER_ID)" >/dev/null
TOKEN=$MEMBER_TOKEN api PATCH /api/notifications/preferences/ '{"email_enabled": false}'
rcli DEL hd:queue:default hd:queue:critical hd:queue:low >/dev/null # the HTTP bench's jobs
tests/stack.sh worker-start "$STATE" >/dev/null
JOBS_NOOP=$(jobs_rate noop '{}' 20000)
JOBS_NOTIFY=$(jobs_rate notify.task_created "{\"task_id\":$TASK_ID,\"actor_id\":$USER_ID}" 5000)
log "jobs: noop $JOBS_NOOP/s, notify.task_created $JOBS_NOTIFY/s"

# ------------------------------------------------------------------ growth
# What grows with the user base, on generated data (BENCH_GROWTH, default
# "10000 100000" users; "0" skips it): each user owns a residence (UTC) with
# 20 tasks due over the past and next 30 days, wants the daily reminder at
# hour 0 and no email or push, so every user is owed today's reminder.
# Measured per size: the reminder sweep (one reminders.daily job until no
# user is owed: the claim, the feed entries, their tasks) and the uncached
# task list of a user of one of those residences (wrk, Cache-Control:
# no-cache). Sizes grow on one another: the 100,000 include the 10,000.
GROWTH_SIZES=${BENCH_GROWTH:-10000 100000}
GROWTH_TEXT=""
bpsql() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB_NAME" "$@"; }
have=0
for size in $GROWTH_SIZES; do
    [[ $size =~ ^[1-9][0-9]*$ ]] || continue
    ((size > have)) || continue
    log "growth: generating users $((have + 1))..$size with a residence and 20 tasks each"
    t0=$(date +%s.%N)
    bpsql >/dev/null <<SQL || die "growth: generating $size users failed"
BEGIN;
INSERT INTO auth_user (username, email, password)
SELECT 'g_' || i, 'g_' || i || '@bench.invalid', '!' FROM generate_series($((have + 1)), $size) i;
INSERT INTO notification_preference (user_id, task_created, task_completed, task_due, task_overdue,
                                     member_joined, reminder, email_enabled, push_enabled, reminder_hour)
SELECT id, true, true, true, true, true, true, false, false, 0 FROM auth_user
WHERE username LIKE 'g\_%' AND id NOT IN (SELECT user_id FROM notification_preference);
INSERT INTO residence_residence (owner_id, name)
SELECT u.id, 'Generated ' || u.username FROM auth_user u
WHERE u.username LIKE 'g\_%' AND NOT EXISTS (SELECT 1 FROM residence_residence r WHERE r.owner_id = u.id);
INSERT INTO residence_residence_users (residence_id, user_id)
SELECT r.id, r.owner_id FROM residence_residence r WHERE r.name LIKE 'Generated g\_%'
ON CONFLICT DO NOTHING;
INSERT INTO task_task (residence_id, created_by_id, title, due_date, frequency)
SELECT r.id, r.owner_id, 'Chore ' || n, current_date + ((r.id * 7 + n * 3) % 61 - 30)::int,
       (ARRAY['once', 'weekly', 'monthly', 'annually'])[1 + n % 4]
FROM residence_residence r CROSS JOIN generate_series(1, 20) n
WHERE r.name LIKE 'Generated g\_%' AND NOT EXISTS (SELECT 1 FROM task_task t WHERE t.residence_id = r.id);
COMMIT;
ANALYZE;
SQL
    gen_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
    have=$size
    # Everyone owed today's reminder again (a smaller size's sweep sent it).
    bpsql -c "DELETE FROM notification_notification WHERE kind = 'reminder';
              DELETE FROM notification_reminderlog;" >/dev/null
    owed=$(bpsql -c "SELECT count(*) FROM notification_reminder_due WHERE due_at <= now()")
    log "growth: $size users generated in ${gen_s}s; $owed owed a reminder; sweeping"
    t0=$(date +%s.%N)
    "$HD_BIN/honeydue-worker" jobs enqueue reminders.daily >/dev/null || die "growth: enqueue failed"
    left=$owed
    for ((w = 0; w < 36000; w++)); do
        left=$(bpsql -c "SELECT count(*) FROM notification_reminder_due WHERE due_at <= now()")
        ((left == 0)) && break
        sleep 0.1
    done
    sweep_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    claimed=$(bpsql -c "SELECT count(*) FROM notification_reminderlog")
    # The uncached list of one more user, a member of a generated residence.
    api POST /api/auth/register/ \
        "{\"username\":\"${USERNAME}_g$size\",\"email\":\"${USERNAME}_g$size@example.com\",\"password\":\"$PASSWORD\"}"
    expect 201 "POST /api/auth/register/ (growth $size)"
    GROWTH_TOKEN=$(json_field token)
    GROWTH_ID=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["user"]["id"])' "$BODY")
    bpsql -c "INSERT INTO residence_residence_users (residence_id, user_id)
              SELECT id, $GROWTH_ID FROM residence_residence WHERE name = 'Generated g_$((size / 2))'" >/dev/null
    BENCH_TOKEN=$GROWTH_TOKEN run "list_$size" /api/tasks/ BENCH_AUTH=1 BENCH_NOCACHE=1
    GROWTH_TEXT+="| $size | $owed | $claimed | $sweep_s | $(awk -v c="$claimed" -v s="$sweep_s" 'BEGIN {printf "%.0f", (s > 0 ? c / s : 0)}') | $(printf '%.0f' "${RPS[list_$size]:-0}") | ${P99[list_$size]:-?} |"$'\n'
    log "growth: $size users: sweep ${sweep_s}s for $claimed users ($left still owed); uncached list ${RPS[list_$size]:-?} req/s"
    ((left == 0)) || STATUS=1
done
if [[ -n $GROWTH_TEXT ]]; then
    GROWTH_TEXT="Growth (generated users, each with a residence and 20 tasks; the sweep is one reminders.daily run until no user is owed a reminder; the list is GET /api/tasks/ uncached for a member of one generated residence):

| users | owed a reminder | claimed | sweep s | users/s | uncached list req/s | p99 ms |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${GROWTH_TEXT%$'\n'}"
fi

# ------------------------------------------------------------------ the report
# endpoint label, key, target ratio, target p99 (ms)
ROWS=(
    "bare libfcgi responder (GET /bench/bare)|bare||"
    "GET /api/health/|health|0.90|5"
    "GET /api/tasks/ (cache hit)|tasks_hit|0.50|10"
    "GET /api/tasks/ (cache bypassed, 40 tasks)|tasks_bypass|0.35|10"
    "POST /api/tasks/|tasks_post|0.25|15"
)
BARE=${RPS[bare]:-}
table="| endpoint | req/s | p50 ms | p99 ms | ratio to bare | target ratio | target p99 | non-2xx | verdict |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for row in "${ROWS[@]}"; do
    IFS='|' read -r label key tratio tp99 <<<"$row"
    rps=${RPS[$key]:-}
    non2xx=${NON2XX[$key]:-0}
    tp99_txt=${tp99:+≤ $tp99 ms}
    tp99_txt=${tp99_txt:-–}
    [[ ${ERRS[$key]:-0} != 0 ]] && non2xx+=" (+${ERRS[$key]} socket errors)"
    if [[ -z $rps ]]; then
        line="| $label | – | – | – | – | ${tratio:-–} | $tp99_txt | $non2xx | no data${NOTE[$key]:+ (${NOTE[$key]})} |"
    else
        ratio=$([[ -n $BARE ]] && awk -v a="$rps" -v b="$BARE" 'BEGIN {printf "%.2f", a / b}' || echo "–")
        if [[ $key == bare ]]; then
            verdict="ceiling"
            if [[ ${NON2XX[$key]} != 0 || ${ERRS[$key]} != 0 || -n ${NOTE[$key]:-} ]]; then
                verdict="ceiling (not clean: ${NOTE[$key]:-non-2xx or socket errors})"
            fi
        else
            why=()
            [[ $ratio == "–" ]] || awk -v r="$ratio" -v t="$tratio" 'BEGIN {exit !(r + 0 >= t + 0)}' || why+=("ratio")
            [[ $ratio != "–" ]] || why+=("no bare figure")
            awk -v p="${P99[$key]}" -v t="$tp99" 'BEGIN {exit !(p != "?" && p + 0 <= t + 0)}' || why+=("p99")
            [[ ${NON2XX[$key]} == 0 && ${ERRS[$key]} == 0 ]] || why+=("non-2xx")
            [[ -z ${NOTE[$key]:-} ]] || why+=("${NOTE[$key]}")
            if ((${#why[@]} == 0)); then
                verdict="meets"
            else
                verdict="below target (${why[0]}"
                for w in "${why[@]:1}"; do verdict+=", $w"; done
                verdict+=")"
            fi
        fi
        line=$(printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s |' "$label" "$rps" \
            "${P50[$key]}" "${P99[$key]}" "$ratio" "${tratio:-–}" "$tp99_txt" "$non2xx" "$verdict")
    fi
    table+=$'\n'"$line"
done

# Pool workers' RSS, before and after the runs.
rss_lines=""
rss_max=0
while read -r pid kb; do
    [[ -n $pid ]] || continue
    before=$(awk -v p="$pid" '$1 == p {printf "%.1f MB → ", $2 / 1024}' <<<"$RSS_BEFORE")
    rss_lines+="${rss_lines:+, }$pid: ${before}$(awk -v k="$kb" 'BEGIN {printf "%.1f MB", k / 1024}')"
    if ((kb > rss_max)); then rss_max=$kb; fi
done <<<"$RSS_AFTER"
if [[ -n $rss_lines ]]; then
    rss_verdict=$(awk -v k="$rss_max" 'BEGIN {print (k / 1024 <= 16) ? "meets ≤ 16 MB" : "above 16 MB"}')
    rss_text="Pool worker RSS (pid: before → after $TOTAL_REQUESTS bench requests): $rss_lines; max $(awk -v k="$rss_max" 'BEGIN {printf "%.1f", k / 1024}') MB, $rss_verdict."
else
    rss_text="Pool worker RSS: no workers found under master pid $MASTER."
fi
if ((${#LOGIN_TIMES[@]} == 5)); then
    login_text="Login (argon2id, POST /api/auth/login/, mean of 5): $(printf '%s\n' "${LOGIN_TIMES[@]}" |
        awk '{s += $1} END {printf "%.1f", s / NR * 1000}') ms (each: $(printf '%s\n' "${LOGIN_TIMES[@]}" |
        awk '{printf "%s%.1f", (NR > 1 ? ", " : ""), $1 * 1000}') ms)."
else
    login_text="Login (argon2id): not measured, a login failed."
fi

RESULTS="## make bench, $(date -u '+%Y-%m-%d %H:%M UTC')

wrk -t2 -c16 -d${SECS}s --latency (after a 2 s warm-up each), $(nproc) cores, $WORKERS pool workers and $WORKERS bare responder processes, nginx on $API_URL. Targets: DESIGN.md section 11.

$table

$rss_text

$login_text

Jobs (honeydue-worker, ${HONEYDUE_JOB_WORKERS:-2} processes, 20000 noop / 5000 notify.task_created pushed at once): noop $JOBS_NOOP jobs/s, notify.task_created $JOBS_NOTIFY jobs/s.

$GROWTH_TEXT"
mkdir -p "$STATE"
printf '%s\n' "$RESULTS" >"$STATE/results.md"
printf '%s\n' "$RESULTS"
log "written to $STATE/results.md"
exit "$STATUS"
