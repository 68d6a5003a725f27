#!/bin/bash
# stack.sh - the private local stack on loopback: Postgres 15, Redis, the
# honeydue-fcgi pool under spawn-fcgi (as in production), nginx in front,
# honeydue-worker running the jobs, an SMTP sink that keeps each message
# as a file in STATE/mail/ and an S3-compatible server that checks every
# request's signature (tests/s3_server.py, objects under STATE/s3/: the
# documents' bucket with STORAGE_BACKEND=s3; local, STATE/storage/, is the
# default, and `storage-backend` switches a running stack) and a push
# server that plays APNs, FCM and Google's token endpoint over HTTP/2 and
# keeps each accepted push as a file in STATE/push/sent/ (tests/push_server.py),
# every file of it under one state directory. `make run` uses .run/ (port base
# 8080), `make test` uses .run/test/ (port base 28080), the bench its own.
#
#   stack.sh up STATE BIN_DIR        start whatever is not running, migrate, wait for /api/health/
#   stack.sh down STATE              stop what up started (by pid file), nothing else
#   stack.sh env STATE CMD [ARG...]  run CMD with STATE/env sourced
#   stack.sh demo STATE              create the demo and staff users, print working curl commands
#   stack.sh status STATE            say what runs
#   stack.sh redis-stop|redis-start|pg-stop|pg-start|smtp-stop|smtp-start STATE
#   stack.sh s3-stop|s3-start STATE
#   stack.sh push-stop|push-start STATE
#   stack.sh fcgi-restart STATE BIN_DIR
#   stack.sh storage-backend STATE local|s3 BIN_DIR   switch the pool and the worker
#   stack.sh worker-stop STATE; stack.sh worker-start STATE [BIN_DIR]
#
# Ports: nginx on 127.0.0.1:$HD_PORT_BASE, Postgres on +1, Redis on +2, the SMTP
# sink on +3, the S3 server on +7, the push server on +8 (+4 to +6 are the test
# suites' own). Without
# HD_PORT_BASE, the base that STATE was last started with (else 8080).
# The S3 server's key pair is made once per state directory (STATE/s3_key_id,
# STATE/s3_secret) and its settings written to STATE/env as S3_ENDPOINT,
# S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY,
# S3_FORCE_PATH_STYLE, with HD_S3_DIR (its data, and the .stall control file).
# The push server's keys are made once per state directory too (STATE/push-keys/:
# its TLS certificate, an APNs .p8 key with its key id and team id, an FCM
# service account's JSON file) and its settings written to STATE/env as
# APNS_URL, APNS_ENV, APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC,
# FCM_URL, FCM_CREDENTIALS_FILE, PUSH_CA_FILE, with HD_PUSH_DIR (the pushes in
# sent/, and the fault-control files).
# HD_FRESH_DB=1 makes `up` drop every database but postgres and recreate
# honeydue, and empty STATE/mail/ and STATE/push/ (the test harness: a clean
# run without a new initdb).
set -euo pipefail
umask 022

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
FCGI_STOP_TIMEOUT=25
S3_REGION=hd-local-1 # not us-east-1: a client that ignores S3_REGION fails
S3_BUCKET=honeydue
APNS_TOPIC=app.honeydue.local # the app's bundle id, as apns-topic
FCM_PROJECT=honeydue-local
HEALTH_TIMEOUT=20

say() { echo "stack: $*"; }
die() {
    echo "stack: $*" >&2
    exit 1
}
usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p' >&2
    exit 2
}

# ---- state, ports, processes ------------------------------------------------

# set_state DIR [create]: STATE becomes DIR's absolute path; the state's other
# paths follow from it.
set_state() {
    if [ "${2:-}" = create ]; then
        mkdir -p "$1"
    elif [ ! -d "$1" ]; then
        STATE=
        return 1
    fi
    # Physical path: it is compared with /proc/PID/cwd.
    STATE=$(cd "$1" && pwd -P)
    LOG=$STATE/log
    PGDATA_DIR=$STATE/pg
    PGSOCK_DIR=$STATE/pgrun
    REDIS_DIR=$STATE/redis
    NGINX_DIR=$STATE/nginx
    STORAGE=$STATE/storage
    FCGI_PID=$STATE/fcgi.pid
    FCGI_SOCK=$STATE/fcgi.sock
    WORKER_PID=$STATE/worker.pid
    MAIL_DIR=$STATE/mail
    SMTP_PID=$STATE/smtp-sink.pid
    S3_DIR=$STATE/s3
    S3_PID=$STATE/s3-server.pid
    PUSH_DIR=$STATE/push
    PUSH_KEYS=$STATE/push-keys
    PUSH_PID=$STATE/push-server.pid
}

set_bin() {
    [ -d "$1" ] || die "no binary directory $1 (build first: make build)"
    BIN=$(cd "$1" && pwd)
}

# set_ports: BASE from HD_PORT_BASE, else what STATE last used, else 8080.
set_ports() {
    BASE=${HD_PORT_BASE:-}
    if [ -z "$BASE" ] && [ -r "$STATE/port_base" ]; then
        BASE=$(<"$STATE/port_base")
    fi
    BASE=${BASE:-8080}
    if ! [[ $BASE =~ ^[0-9]+$ ]] || [ "$BASE" -lt 1024 ] || [ "$BASE" -gt 65527 ]; then
        die "HD_PORT_BASE must be a port number from 1024 to 65527, not '$BASE'"
    fi
    HTTP_PORT=$BASE
    PG_PORT=$((BASE + 1))
    REDIS_PORT=$((BASE + 2))
    SMTP_PORT=$((BASE + 3))
    S3_PORT=$((BASE + 7))
    PUSH_PORT=$((BASE + 8))
}

# alive PID: PID exists and is not a zombie (an orphan's reaper may be slow).
alive() {
    local state
    [[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null || return 1
    state=$(ps -o stat= -p "$1" 2>/dev/null || true)
    [[ -n $state && $state != Z* ]]
}

# is_proc PID NAME MARK: PID is alive, runs program NAME, and belongs to this
# state directory, as MARK tells: "cwd:DIR" (its working directory is DIR),
# "cmd:TEXT" (its command line contains TEXT) or "env:NAME=VALUE" (its
# environment holds exactly that). Guards every signal we send against a stale
# pid file naming a reused pid, or another stack's process.
is_proc() {
    local pid=$1 name=$2 mark=$3 exe comm
    alive "$pid" || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    exe=${exe% (deleted)}
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [ "${exe##*/}" = "$name" ] || [[ $comm == "$name"* ]] || return 1
    case $mark in
    cwd:?*) [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "${mark#cwd:}" ] ;;
    cmd:?*) tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "${mark#cmd:}" ;;
    env:?*) tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF -- "${mark#env:}" ;;
    *) return 1 ;;
    esac
}

# live_pid FILE NAME MARK: print the pid on FILE's first line if is_proc holds.
live_pid() {
    local pid=
    [ -r "$1" ] || return 1
    read -r pid <"$1" || [ -n "$pid" ] || return 1
    is_proc "$pid" "$2" "$3" || return 1
    echo "$pid"
}

# The pid of each component of this stack, if it runs. Postgres and Redis
# chdir to their data directories; the pool's environment names its state;
# the sink's command line names its mail directory.
pg_pid() { live_pid "$PGDATA_DIR/postmaster.pid" postgres "cwd:$PGDATA_DIR"; }
redis_pid() { live_pid "$REDIS_DIR/redis.pid" redis-server "cwd:$REDIS_DIR"; }
fcgi_pid() { live_pid "$FCGI_PID" honeydue-fcgi "env:HD_STATE=$STATE"; }
worker_pid() { live_pid "$WORKER_PID" honeydue-worker "env:HD_STATE=$STATE"; }
nginx_pid() { live_pid "$NGINX_DIR/nginx.pid" nginx "cmd:-c $NGINX_DIR/nginx.conf "; }
smtp_pid() { live_pid "$SMTP_PID" python3 "cmd:smtp_sink.py --dir $MAIL_DIR "; }
s3_pid() { live_pid "$S3_PID" python3 "cmd:s3_server.py --dir $S3_DIR "; }
push_pid() { live_pid "$PUSH_PID" python3 "cmd:push_server.py --dir $PUSH_DIR "; }
redis_conf_port() { sed -n 's/^port //p' "$REDIS_DIR/redis.conf" 2>/dev/null || true; }

# wait_gone PID SECONDS: wait until PID has exited.
wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while alive "$pid"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# load_env: export everything STATE/env sets into this shell.
load_env() {
    [ -r "$STATE/env" ] || die "no stack in $STATE (start it first: make run)"
    set -a
    # shellcheck disable=SC1091
    . "$STATE/env"
    set +a
}

tail_log() {
    echo "--- last ${2:-30} lines of $1" >&2
    tail -n "${2:-30}" "$1" >&2 2>/dev/null || true
}

# ---- secret and env file ----------------------------------------------------

# make_secret FILE: 32 random bytes as 64 hex characters in STATE/FILE
# (0600), made once per state directory and never printed: the SECRET_KEY
# (which the app checks for 32 bytes of entropy, docs/operations.md) and
# Redis's password.
make_secret() {
    local f=$STATE/$1
    if [ ! -s "$f" ]; then
        (
            umask 077
            head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$f.tmp"
            mv "$f.tmp" "$f"
        )
    fi
    chmod 600 "$f"
}

# make_s3_keys: the S3 server's key pair, made once per state directory, in
# the shape of AWS's (a 20-character key id, a 40-character secret).
make_s3_keys() {
    (
        umask 077
        if [ ! -s "$STATE/s3_secret" ]; then
            head -c 30 /dev/urandom | base64 | tr '+/' 'Ab' >"$STATE/s3_secret.tmp"
            mv "$STATE/s3_secret.tmp" "$STATE/s3_secret"
        fi
        if [ ! -s "$STATE/s3_key_id" ]; then
            echo "HDTEST$(head -c 7 /dev/urandom | od -An -v -tx1 | tr -d ' \n' | tr a-f A-F)" >"$STATE/s3_key_id.tmp"
            mv "$STATE/s3_key_id.tmp" "$STATE/s3_key_id"
        fi
    )
    chmod 600 "$STATE/s3_secret"
}

# make_push_keys: the push server's key material, made once per state
# directory in STATE/push-keys/ (0700, its files 0600) with openssl: a
# self-signed TLS certificate for 127.0.0.1 and localhost (tls.crt, which a
# client must trust, and tls.key); an APNs signing key as Apple hands it out,
# AuthKey_<KEY ID>.p8 (PKCS#8 PEM, EC P-256), with a random 10-character key
# id and team id (apns_key_id, apns_team_id) and its public half
# (apns-public.pem, what the server verifies with); an RSA-2048 key for the
# FCM service account (fcm-key.pem) with its private_key_id and client_id.
# The service account's JSON (fcm-service-account.json, shaped as Google's)
# is rewritten at every up: its token_uri names this stack's port.
make_push_keys() {
    local k=$PUSH_KEYS id
    (
        umask 077
        mkdir -p "$k"
        chmod 700 "$k"
        if [ ! -s "$k/tls.crt" ] || [ ! -s "$k/tls.key" ]; then
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
                -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
                -keyout "$k/tls.key.tmp" -out "$k/tls.crt.tmp" 2>>"$LOG/openssl.log" ||
                die "openssl could not make the push server's certificate (see $LOG/openssl.log)"
            mv "$k/tls.key.tmp" "$k/tls.key"
            mv "$k/tls.crt.tmp" "$k/tls.crt"
        fi
        for id in apns_key_id apns_team_id; do
            if [ ! -s "$k/$id" ]; then
                python3 -c 'import secrets, string
print("".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10)))' >"$k/$id.tmp"
                mv "$k/$id.tmp" "$k/$id"
            fi
        done
        id=$(<"$k/apns_key_id")
        if [ ! -s "$k/AuthKey_$id.p8" ]; then
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$k/AuthKey_$id.p8.tmp" \
                2>>"$LOG/openssl.log" || die "openssl could not make the APNs key (see $LOG/openssl.log)"
            mv "$k/AuthKey_$id.p8.tmp" "$k/AuthKey_$id.p8"
            rm -f "$k/apns-public.pem"
        fi
        if [ ! -s "$k/apns-public.pem" ]; then
            openssl pkey -in "$k/AuthKey_$id.p8" -pubout -out "$k/apns-public.pem.tmp" 2>>"$LOG/openssl.log" ||
                die "openssl could not read $k/AuthKey_$id.p8"
            mv "$k/apns-public.pem.tmp" "$k/apns-public.pem"
        fi
        if [ ! -s "$k/fcm-key.pem" ]; then
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/fcm-key.pem.tmp" \
                2>>"$LOG/openssl.log" || die "openssl could not make the FCM key (see $LOG/openssl.log)"
            mv "$k/fcm-key.pem.tmp" "$k/fcm-key.pem"
            rm -f "$k/fcm_key_id"
        fi
        if [ ! -s "$k/fcm_key_id" ]; then
            head -c 20 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$k/fcm_key_id.tmp"
            mv "$k/fcm_key_id.tmp" "$k/fcm_key_id"
        fi
        if [ ! -s "$k/fcm_client_id" ]; then
            python3 -c 'import secrets; print(10**20 + secrets.randbelow(9 * 10**20))' >"$k/fcm_client_id.tmp"
            mv "$k/fcm_client_id.tmp" "$k/fcm_client_id"
        fi
        python3 - "$k" "$FCM_PROJECT" "https://127.0.0.1:$PUSH_PORT/token" <<'EOF'
import json, os, sys
k, project, token_uri = sys.argv[1:]
def read(name):
    with open(os.path.join(k, name)) as f:
        return f.read().strip()
email = f"honeydue-push@{project}.iam.gserviceaccount.com"
account = {
    "type": "service_account",
    "project_id": project,
    "private_key_id": read("fcm_key_id"),
    "private_key": read("fcm-key.pem") + "\n",
    "client_email": email,
    "client_id": read("fcm_client_id"),
    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": token_uri,
    "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
                            + email.replace("@", "%40"),
    "universe_domain": "googleapis.com",
}
path = os.path.join(k, "fcm-service-account.json")
with open(path + ".tmp", "w") as f:
    json.dump(account, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
EOF
    )
}

# write_env: STATE/env, sourceable; the secrets stay in STATE/secret_key,
# STATE/redis_password, STATE/s3_secret and STATE/push-keys/.
write_env() {
    local tmp=$STATE/env.tmp name
    {
        echo "# Written by tests/stack.sh up: the environment of this stack's processes."
        printf 'export DB_HOST=127.0.0.1\n'
        printf 'export DB_PORT=%q\n' "$PG_PORT"
        printf 'export DB_NAME=honeydue\n'
        printf 'export DB_USER=postgres\n'
        printf 'export DB_SSLMODE=disable\n'
        # Redis requires its password (STATE/redis_password): in the URL for
        # the app, in REDISCLI_AUTH for redis-cli (never on a command line).
        # shellcheck disable=SC2016 # expanded when the file is sourced
        printf 'export REDIS_URL="redis://:$(cat %q)@127.0.0.1:%q/0"\n' "$STATE/redis_password" "$REDIS_PORT"
        # shellcheck disable=SC2016
        printf 'export REDISCLI_AUTH="$(cat %q)"\n' "$STATE/redis_password"
        # shellcheck disable=SC2016 # expanded when the file is sourced
        printf 'export SECRET_KEY="$(cat %q)"\n' "$STATE/secret_key"
        printf 'export HONEYDUE_WORKERS=%q\n' "${HONEYDUE_WORKERS:-4}"
        printf 'export HONEYDUE_MIGRATIONS_DIR=%q\n' "$REPO/migrations"
        printf 'export API_URL=%q\n' "http://127.0.0.1:$HTTP_PORT"
        printf 'export HD_STATE=%q\n' "$STATE"
        printf 'export HD_BIN=%q\n' "$BIN"
        printf 'export STORAGE_BACKEND=%q\n' "${STORAGE_BACKEND:-local}"
        printf 'export STORAGE_DIR=%q\n' "$STORAGE"
        printf 'export SMTP_URL=%q\n' "smtp://127.0.0.1:$SMTP_PORT"
        printf 'export SMTP_FROM=%q\n' "honeyDue <no-reply@honeydue.local>"
        printf 'export HD_MAIL_DIR=%q\n' "$MAIL_DIR"
        # The S3 server's: the app's with STORAGE_BACKEND=s3, and the S3
        # client's tests'.
        printf 'export S3_ENDPOINT=%q\n' "http://127.0.0.1:$S3_PORT"
        printf 'export S3_REGION=%q\n' "$S3_REGION"
        printf 'export S3_BUCKET=%q\n' "$S3_BUCKET"
        printf 'export S3_ACCESS_KEY_ID=%q\n' "$(<"$STATE/s3_key_id")"
        # shellcheck disable=SC2016 # expanded when the file is sourced
        printf 'export S3_SECRET_ACCESS_KEY="$(cat %q)"\n' "$STATE/s3_secret"
        printf 'export S3_FORCE_PATH_STYLE=true\n'
        printf 'export S3_TIMEOUT_SECONDS=%q\n' "${S3_TIMEOUT_SECONDS:-30}"
        printf 'export HD_S3_DIR=%q\n' "$S3_DIR"
        # The push server's: APNs (api.sandbox.push.apple.com's stand-in), FCM
        # (fcm.googleapis.com's; the service account's token_uri names the
        # token endpoint), and the certificate a push client must trust.
        printf 'export APNS_URL=%q\n' "https://127.0.0.1:$PUSH_PORT"
        printf 'export APNS_ENV=sandbox\n'
        printf 'export APNS_KEY_FILE=%q\n' "$PUSH_KEYS/AuthKey_$(<"$PUSH_KEYS/apns_key_id").p8"
        printf 'export APNS_KEY_ID=%q\n' "$(<"$PUSH_KEYS/apns_key_id")"
        printf 'export APNS_TEAM_ID=%q\n' "$(<"$PUSH_KEYS/apns_team_id")"
        printf 'export APNS_TOPIC=%q\n' "$APNS_TOPIC"
        printf 'export FCM_URL=%q\n' "https://127.0.0.1:$PUSH_PORT"
        printf 'export FCM_CREDENTIALS_FILE=%q\n' "$PUSH_KEYS/fcm-service-account.json"
        printf 'export PUSH_CA_FILE=%q\n' "$PUSH_KEYS/tls.crt"
        printf 'export HD_PUSH_DIR=%q\n' "$PUSH_DIR"
        # Whatever the caller set for the app or the sanitizers comes along.
        while IFS= read -r name; do
            case $name in
            HONEYDUE_WORKERS) ;;
            HONEYDUE_* | ASAN_* | UBSAN_* | LSAN_*) printf 'export %s=%q\n' "$name" "${!name}" ;;
            esac
        done < <(compgen -e | sort)
    } >"$tmp"
    mv "$tmp" "$STATE/env"
}

# ---- Postgres -----------------------------------------------------------------

pg_admin() {
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -At "$@"
}

# initdb and postgres refuse to run as root: as root, the cluster belongs to
# the postgres OS user; otherwise to whoever runs this.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}
own_pg() {
    [ "$(id -u)" -ne 0 ] || chown postgres: "$@"
}

pg_start() {
    local pid
    if pid=$(pg_pid); then
        say "postgres already running (pid $pid)"
        return 0
    fi
    mkdir -p "$PGDATA_DIR" "$PGSOCK_DIR"
    own_pg "$PGDATA_DIR" "$PGSOCK_DIR"
    chmod 700 "$PGDATA_DIR"
    as_postgres test -w "$PGDATA_DIR" ||
        die "the postgres OS user cannot reach $PGDATA_DIR: make its parent directories traversable (chmod o+x)"
    if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
        if ! as_postgres "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --no-locale \
            --no-sync >"$LOG/initdb.log" 2>&1; then
            tail_log "$LOG/initdb.log"
            die "initdb failed"
        fi
        echo "include_if_exists = 'honeydue.conf'" >>"$PGDATA_DIR/postgresql.conf"
    fi
    # Rewritten at every up (the port follows HD_PORT_BASE); pg-start keeps it.
    if [ -n "${PG_PORT:-}" ]; then
        cat >"$PGDATA_DIR/honeydue.conf" <<EOF
# Written by tests/stack.sh.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGSOCK_DIR'
EOF
        own_pg "$PGDATA_DIR/honeydue.conf"
    fi
    local port
    port=$(sed -n 's/^port = //p' "$PGDATA_DIR/honeydue.conf" 2>/dev/null || true)
    [ -n "$port" ] || die "no $PGDATA_DIR/honeydue.conf (start the stack with up first)"
    rm -f "$PGDATA_DIR/postmaster.pid" # stale: its process is gone (checked above)
    touch "$LOG/postgres.log"
    own_pg "$LOG/postgres.log"
    if ! as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOG/postgres.log" -w -t 60 start >/dev/null; then
        tail_log "$LOG/postgres.log"
        die "postgres did not start"
    fi
    say "postgres started on 127.0.0.1:$port"
}

pg_stop() {
    local pid
    pid=$(pg_pid) || return 0
    if ! as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null; then
        echo "stack: postgres (pid $pid) did not stop" >&2
        return 1
    fi
    say "postgres stopped (pid $pid)"
}

# pg_database: create honeydue if missing; with HD_FRESH_DB=1 drop every
# database but postgres first (the schema tests' leftovers too).
pg_database() {
    local db
    if [ "${HD_FRESH_DB:-0}" = 1 ]; then
        while IFS= read -r db; do
            [ -n "$db" ] && pg_admin -c "DROP DATABASE \"$db\" WITH (FORCE)"
        done < <(pg_admin -c "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')")
    fi
    if [ "$(pg_admin -c "SELECT 1 FROM pg_database WHERE datname = 'honeydue'")" != 1 ]; then
        pg_admin -c "CREATE DATABASE honeydue"
    fi
}

# ---- Redis ------------------------------------------------------------------

redis_start() {
    local pid i
    if pid=$(redis_pid); then
        say "redis already running (pid $pid)"
        return 0
    fi
    mkdir -p "$REDIS_DIR"
    chmod 700 "$REDIS_DIR"
    if [ -n "${REDIS_PORT:-}" ]; then
        # 0600: it holds the password (STATE/redis_password's).
        (umask 077 && cat >"$REDIS_DIR/redis.conf.tmp") <<EOF
# Written by tests/stack.sh: a cache and queue that lives as long as the stack.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
requirepass $(<"$STATE/redis_password")
daemonize yes
supervised no
pidfile $REDIS_DIR/redis.pid
logfile $LOG/redis.log
dir $REDIS_DIR
save ""
appendonly no
maxmemory 64mb
# As docs/operations.md advises for one Redis holding both the cache (every key with
# a TTL) and the job queues (none): evict cache entries, never queued jobs.
maxmemory-policy volatile-lru
EOF
        mv "$REDIS_DIR/redis.conf.tmp" "$REDIS_DIR/redis.conf"
    fi
    [ -r "$REDIS_DIR/redis.conf" ] || die "no $REDIS_DIR/redis.conf (start the stack with up first)"
    local port
    port=$(redis_conf_port)
    rm -f "$REDIS_DIR/redis.pid"
    redis-server "$REDIS_DIR/redis.conf" || die "redis did not start (see $LOG/redis.log)"
    for ((i = 0; i < 100; i++)); do
        if [ "$(REDISCLI_AUTH=$(<"$STATE/redis_password") redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && [ -s "$REDIS_DIR/redis.pid" ]; then
            say "redis started on 127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    tail_log "$LOG/redis.log"
    die "redis did not answer on 127.0.0.1:$port"
}

redis_stop() {
    local pid
    pid=$(redis_pid) || return 0
    kill -TERM "$pid"
    if ! wait_gone "$pid" 15; then
        echo "stack: redis (pid $pid) did not stop within 15 s" >&2
        return 1
    fi
    rm -f "$REDIS_DIR/redis.pid"
    say "redis stopped (pid $pid)"
}

# ---- the SMTP sink ------------------------------------------------------------

# smtp_start: tests/smtp_sink.py (Debian's python3-aiosmtpd, hence the
# system python) on SMTP_PORT, or the port the sink last used; it writes its
# pid file once it listens.
smtp_start() {
    local pid i port
    if pid=$(smtp_pid); then
        say "smtp sink already running (pid $pid)"
        return 0
    fi
    if [ -n "${SMTP_PORT:-}" ]; then
        echo "$SMTP_PORT" >"$STATE/smtp_port"
    fi
    [ -r "$STATE/smtp_port" ] || die "no $STATE/smtp_port (start the stack with up first)"
    port=$(<"$STATE/smtp_port")
    mkdir -p "$MAIL_DIR"
    rm -f "$SMTP_PID"
    (
        cd "$REPO"
        exec setsid /usr/bin/python3 "$REPO/tests/smtp_sink.py" --dir "$MAIL_DIR" --port "$port" \
            --pid-file "$SMTP_PID"
    ) >>"$LOG/smtp-sink.log" 2>&1 </dev/null &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        if smtp_pid >/dev/null; then
            say "smtp sink started on 127.0.0.1:$port, mail in $MAIL_DIR/"
            return 0
        fi
        alive "$pid" || break
        sleep 0.1
    done
    tail_log "$LOG/smtp-sink.log"
    die "the smtp sink did not start on 127.0.0.1:$port"
}

smtp_stop() {
    local pid
    pid=$(smtp_pid) || {
        rm -f "$SMTP_PID"
        return 0
    }
    kill -TERM "$pid"
    if ! wait_gone "$pid" 10; then
        echo "stack: smtp sink (pid $pid) did not stop within 10 s" >&2
        return 1
    fi
    rm -f "$SMTP_PID"
    say "smtp sink stopped (pid $pid)"
}

# ---- the S3 server --------------------------------------------------------------

# s3_start: tests/s3_server.py (Debian's python3-botocore checks signatures,
# hence the system python) on S3_PORT, or the port it last used, with the
# stack's key pair and the bucket S3_BUCKET; it writes its pid file once it
# listens.
s3_start() {
    local pid i port
    if pid=$(s3_pid); then
        say "s3 server already running (pid $pid)"
        return 0
    fi
    if [ -n "${S3_PORT:-}" ]; then
        echo "$S3_PORT" >"$STATE/s3_port"
    fi
    { [ -r "$STATE/s3_port" ] && [ -s "$STATE/s3_secret" ]; } ||
        die "no $STATE/s3_port (start the stack with up first)"
    port=$(<"$STATE/s3_port")
    mkdir -p "$S3_DIR"
    rm -f "$S3_PID"
    (
        cd "$REPO"
        exec setsid /usr/bin/python3 "$REPO/tests/s3_server.py" --dir "$S3_DIR" --port "$port" \
            --region "$S3_REGION" --bucket "$S3_BUCKET" --access-key-id "$(<"$STATE/s3_key_id")" \
            --secret-file "$STATE/s3_secret" --pid-file "$S3_PID"
    ) >>"$LOG/s3-server.log" 2>&1 </dev/null &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        if s3_pid >/dev/null; then
            say "s3 server started on http://127.0.0.1:$port, bucket $S3_BUCKET, objects in $S3_DIR/"
            return 0
        fi
        alive "$pid" || break
        sleep 0.1
    done
    tail_log "$LOG/s3-server.log"
    die "the s3 server did not start on 127.0.0.1:$port"
}

s3_stop() {
    local pid
    pid=$(s3_pid) || {
        rm -f "$S3_PID"
        return 0
    }
    kill -TERM "$pid"
    if ! wait_gone "$pid" 10; then
        echo "stack: s3 server (pid $pid) did not stop within 10 s" >&2
        return 1
    fi
    rm -f "$S3_PID"
    say "s3 server stopped (pid $pid)"
}

# ---- the push server -----------------------------------------------------------

# push_start: tests/push_server.py (Debian's python3-h2, python3-jwt and
# python3-cryptography, hence the system python) on PUSH_PORT, or the port it
# last used, with the keys of STATE/push-keys/; it writes its pid file once
# it listens.
push_start() {
    local pid i port k=$PUSH_KEYS
    if pid=$(push_pid); then
        say "push server already running (pid $pid)"
        return 0
    fi
    if [ -n "${PUSH_PORT:-}" ]; then
        echo "$PUSH_PORT" >"$STATE/push_port"
    fi
    { [ -r "$STATE/push_port" ] && [ -s "$k/fcm-service-account.json" ]; } ||
        die "no $STATE/push_port (start the stack with up first)"
    port=$(<"$STATE/push_port")
    mkdir -p "$PUSH_DIR/sent"
    rm -f "$PUSH_PID"
    (
        cd "$REPO"
        exec setsid /usr/bin/python3 "$REPO/tests/push_server.py" --dir "$PUSH_DIR" --port "$port" \
            --cert "$k/tls.crt" --key "$k/tls.key" --apns-key-id "$(<"$k/apns_key_id")" \
            --apns-team-id "$(<"$k/apns_team_id")" --apns-public-key "$k/apns-public.pem" \
            --apns-topic "$APNS_TOPIC" --fcm-credentials "$k/fcm-service-account.json" \
            --pid-file "$PUSH_PID"
    ) >>"$LOG/push-server.log" 2>&1 </dev/null &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        if push_pid >/dev/null; then
            say "push server started on https://127.0.0.1:$port (APNs, FCM, token endpoint), pushes in $PUSH_DIR/sent/"
            return 0
        fi
        alive "$pid" || break
        sleep 0.1
    done
    tail_log "$LOG/push-server.log"
    die "the push server did not start on 127.0.0.1:$port"
}

push_stop() {
    local pid
    pid=$(push_pid) || {
        rm -f "$PUSH_PID"
        return 0
    }
    kill -TERM "$pid"
    if ! wait_gone "$pid" 10; then
        echo "stack: push server (pid $pid) did not stop within 10 s" >&2
        return 1
    fi
    rm -f "$PUSH_PID"
    say "push server stopped (pid $pid)"
}

# ---- migrations and the FastCGI pool ----------------------------------------

migrate_up() {
    [ -x "$BIN/honeydue-migrate" ] || die "no $BIN/honeydue-migrate (build first: make build)"
    if ! (cd "$REPO" && load_env && exec "$BIN/honeydue-migrate" up) >>"$LOG/migrate.log" 2>&1 </dev/null; then
        tail_log "$LOG/migrate.log"
        die "migrations failed"
    fi
}

fcgi_start() {
    local pid
    if pid=$(fcgi_pid); then
        if [ "$BIN/honeydue-fcgi" -nt "$FCGI_PID" ]; then
            say "honeydue-fcgi already running (pid $pid), from an older build: tests/stack.sh fcgi-restart ${STATE#"$REPO"/} ${BIN#"$REPO"/}"
        else
            say "honeydue-fcgi already running (pid $pid)"
        fi
        return 0
    fi
    [ -x "$BIN/honeydue-fcgi" ] || die "no $BIN/honeydue-fcgi (build first: make build)"
    rm -f "$FCGI_SOCK" "$FCGI_PID"
    # As in production: spawn-fcgi -n binds the socket and execs the master on
    # it (fd 0), so $! is the master. setsid (which execs too, as the subshell
    # leads no process group) detaches it from the caller's terminal and
    # makes the pool a session of its own.
    (
        cd "$REPO"
        load_env
        exec setsid spawn-fcgi -n -s "$FCGI_SOCK" -M 0666 -- "$BIN/honeydue-fcgi"
    ) >>"$LOG/fcgi.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$FCGI_PID"
    say "honeydue-fcgi started (pid $pid, $(load_env && echo "$HONEYDUE_WORKERS") workers, socket $FCGI_SOCK)"
}

# fcgi_stop: SIGTERM is graceful (in-flight requests finish; the workers exit
# normally, so LeakSanitizer reports). Returns 1 if it had to be forced.
fcgi_stop() {
    local pid rc=0 left
    pid=$(fcgi_pid) || {
        rm -f "$FCGI_PID"
        return 0
    }
    kill -TERM "$pid"
    if ! wait_gone "$pid" "$FCGI_STOP_TIMEOUT"; then
        echo "stack: honeydue-fcgi (pid $pid) did not stop within ${FCGI_STOP_TIMEOUT} s of SIGTERM; stopping it at once" >&2
        rc=1
        kill -INT "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 5; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || true
        fi
    fi
    # Workers outliving their master are still in the session up created.
    left=$(ps -e -o pid=,sid=,stat= | awk -v s="$pid" '$2 == s && $3 !~ /^Z/ { printf "%s ", $1 }')
    if [ -n "$left" ]; then
        echo "stack: honeydue-fcgi processes outlived the master: $left- killing them" >&2
        rc=1
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
    fi
    rm -f "$FCGI_PID" "$FCGI_SOCK"
    say "honeydue-fcgi stopped (pid $pid)"
    return "$rc"
}

# ---- honeydue-worker ---------------------------------------------------------

worker_start() {
    local pid
    if pid=$(worker_pid); then
        say "honeydue-worker already running (pid $pid)"
        return 0
    fi
    [ -x "$BIN/honeydue-worker" ] || die "no $BIN/honeydue-worker (build first: make build)"
    (
        cd "$REPO"
        load_env
        exec setsid "$BIN/honeydue-worker"
    ) >>"$LOG/worker.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$WORKER_PID"
    say "honeydue-worker started (pid $pid)"
}

# worker_stop: SIGTERM is graceful (running jobs finish). 1 if forced.
worker_stop() {
    local pid rc=0 left
    pid=$(worker_pid) || {
        rm -f "$WORKER_PID"
        return 0
    }
    kill -TERM "$pid"
    if ! wait_gone "$pid" "$FCGI_STOP_TIMEOUT"; then
        echo "stack: honeydue-worker (pid $pid) did not stop within ${FCGI_STOP_TIMEOUT} s of SIGTERM" >&2
        rc=1
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || true
    fi
    left=$(ps -e -o pid=,sid=,stat= | awk -v s="$pid" '$2 == s && $3 !~ /^Z/ { printf "%s ", $1 }')
    if [ -n "$left" ]; then
        echo "stack: honeydue-worker processes outlived the supervisor: $left- killing them" >&2
        rc=1
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
    fi
    rm -f "$WORKER_PID"
    say "honeydue-worker stopped (pid $pid)"
    return "$rc"
}

# ---- nginx ------------------------------------------------------------------

# storage_dir: the pool's STORAGE_DIR, which nginx serves documents' files
# from. As root the pool runs as root and nginx as www-data: the directory
# is group www-data and setgid (files inherit the group; the app creates
# them 0640), closed to everyone else. Otherwise both run as this user.
storage_dir() {
    if [ "$(id -u)" -eq 0 ]; then
        install -d -m 2750 -g www-data "$STORAGE"
    else
        install -d -m 0700 "$STORAGE"
    fi
}

nginx_start() {
    local pid conf tpl out
    if pid=$(nginx_pid); then
        say "nginx already running (pid $pid)"
        return 0
    fi
    mkdir -p "$NGINX_DIR/tmp/client_body" "$NGINX_DIR/tmp/fastcgi" "$NGINX_DIR/tmp/proxy" \
        "$NGINX_DIR/tmp/uwsgi" "$NGINX_DIR/tmp/scgi"
    conf=$NGINX_DIR/nginx.conf
    tpl=$(<"$REPO/nginx/honeydue.conf.in")
    # The pod's values for the same template: deploy/render_configmap.py.
    tpl=${tpl//@WORKER_PROCESSES@/auto}
    tpl=${tpl//@LISTEN@/127.0.0.1:$HTTP_PORT}
    tpl=${tpl//@PID@/$NGINX_DIR/nginx.pid}
    tpl=${tpl//@ERROR_LOG@/$LOG/nginx-error.log}
    tpl=${tpl//@TMP@/$NGINX_DIR/tmp}
    tpl=${tpl//@PEERS@/127.0.0.1 internal; # the local stack faces its clients itself}
    tpl=${tpl//@CLOUDFLARE@/# none locally}
    tpl=${tpl//@STATE@/$STATE}
    tpl=${tpl//@STATIC@/$REPO/static}
    tpl=${tpl//@NGINX@/$REPO/nginx}
    tpl=${tpl//@REPO@/$REPO}
    tpl=${tpl//@STORAGE@/$STORAGE}
    tpl=${tpl//@RESOLVER@/# no resolver: the S3 endpoint is an address}
    tpl=${tpl//@S3_TIMEOUT@/$(load_env && echo "${S3_TIMEOUT_SECONDS:-30}")}
    {
        echo "# Rendered by tests/stack.sh from nginx/honeydue.conf.in."
        if [ "$(id -u)" -eq 0 ]; then
            echo "user www-data www-data;"
            chown -R www-data:www-data "$NGINX_DIR/tmp"
        fi
        printf '%s\n' "$tpl"
    } >"$conf.tmp"
    mv "$conf.tmp" "$conf"
    if ! out=$(nginx -t -q -c "$conf" -p "$NGINX_DIR/" -e "$LOG/nginx-error.log" 2>&1); then
        printf '%s\n' "$out" >&2
        die "nginx -t rejected $conf"
    fi
    rm -f "$NGINX_DIR/nginx.pid"
    if ! out=$(nginx -c "$conf" -p "$NGINX_DIR/" -e "$LOG/nginx-error.log" 2>&1); then
        printf '%s\n' "$out" >&2
        die "nginx did not start"
    fi
    say "nginx started on http://127.0.0.1:$HTTP_PORT"
}

nginx_stop() {
    local pid
    pid=$(nginx_pid) || return 0
    kill -QUIT "$pid"
    if ! wait_gone "$pid" 20; then
        echo "stack: nginx (pid $pid) did not stop within 20 s" >&2
        return 1
    fi
    rm -f "$NGINX_DIR/nginx.pid"
    say "nginx stopped (pid $pid)"
}

# wait_health: /api/health/ through nginx answers 200, or fail with the pool's log.
wait_health() {
    local url=$1 deadline=$((SECONDS + HEALTH_TIMEOUT)) pid
    while ! curl -fsS -o /dev/null --max-time 2 "$url/api/health/" 2>/dev/null; do
        if ! pid=$(fcgi_pid); then
            tail_log "$LOG/fcgi.log"
            die "honeydue-fcgi exited during start-up"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail_log "$LOG/fcgi.log"
            die "$url/api/health/ did not answer 200 within ${HEALTH_TIMEOUT} s"
        fi
        sleep 0.2
    done
}

# ---- subcommands --------------------------------------------------------------

cmd_up() {
    [ $# -eq 2 ] || usage
    set_state "$1" create
    set_bin "$2"
    set_ports
    echo "$BASE" >"$STATE/port_base"
    chmod 755 "$STATE"
    mkdir -p "$LOG"
    if [ "${HD_FRESH_DB:-0}" = 1 ] && fcgi_pid >/dev/null; then
        die "HD_FRESH_DB=1 needs the pool stopped first: tests/stack.sh down $1"
    fi
    if [ "${HD_FRESH_DB:-0}" = 1 ]; then
        rm -rf -- "$STORAGE" # the files of the databases about to be dropped
        # A fresh run starts with no mail, and no .fail a crashed test left.
        rm -f "$MAIL_DIR"/*.eml "$MAIL_DIR"/.*.tmp "$MAIL_DIR/.fail"
        # ... no objects, no .stall.
        s3_pid >/dev/null || rm -rf -- "$S3_DIR"
        # ... no pushes, no unregistered tokens, scripts or other controls
        # (the server makes sent/ again when it records).
        [ ! -d "$PUSH_DIR" ] || find "$PUSH_DIR" -mindepth 1 -delete
    fi
    storage_dir
    make_secret secret_key
    make_secret redis_password
    make_s3_keys
    make_push_keys
    write_env
    pg_start
    pg_database
    redis_start
    smtp_start
    s3_start
    push_start
    migrate_up
    fcgi_start
    nginx_start
    wait_health "http://127.0.0.1:$HTTP_PORT"
    worker_start
}

cmd_down() {
    [ $# -eq 1 ] || usage
    set_state "$1" || return 0
    local rc=0
    worker_stop || rc=1
    fcgi_stop || rc=1
    nginx_stop || rc=1
    redis_stop || rc=1
    smtp_stop || rc=1
    s3_stop || rc=1
    push_stop || rc=1
    pg_stop || rc=1
    return "$rc"
}

cmd_env() {
    [ $# -ge 2 ] || usage
    local keep=() name kv
    # DB_* already set by the caller win (make migrate-* against another database).
    while IFS= read -r name; do
        [[ $name == DB_* ]] && keep+=("$name=${!name}")
    done < <(compgen -e)
    if set_state "$1" && [ -r "$STATE/env" ]; then
        load_env
    elif [ -z "${DB_HOST:-}" ]; then
        die "no stack in $1 (start it first: make run)"
    fi
    for kv in "${keep[@]}"; do
        export "${kv?}"
    done
    shift
    exec "$@"
}

cmd_status() {
    [ $# -eq 1 ] || usage
    set_state "$1" || die "no stack in $1"
    local pid
    pid=$(pg_pid) && echo "postgres: pid $pid" || echo "postgres: stopped"
    pid=$(redis_pid) && echo "redis: pid $pid" || echo "redis: stopped"
    pid=$(fcgi_pid) && echo "honeydue-fcgi: pid $pid" || echo "honeydue-fcgi: stopped"
    pid=$(nginx_pid) && echo "nginx: pid $pid" || echo "nginx: stopped"
    pid=$(worker_pid) && echo "honeydue-worker: pid $pid" || echo "honeydue-worker: stopped"
    pid=$(smtp_pid) && echo "smtp sink: pid $pid, mail in $MAIL_DIR/" || echo "smtp sink: stopped"
    pid=$(s3_pid) && echo "s3 server: pid $pid, objects in $S3_DIR/" || echo "s3 server: stopped"
    pid=$(push_pid) && echo "push server: pid $pid, pushes in $PUSH_DIR/sent/" || echo "push server: stopped"
}

# json_get KEY...: read JSON on stdin, print the value at that path ("" if absent).
json_get() {
    python3 -c '
import json, sys
try:
    v = json.load(sys.stdin)
    for k in sys.argv[1:]:
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(v)
except (ValueError, KeyError, IndexError, TypeError):
    print("")
' "$@"
}

# api METHOD PATH [TOKEN] [BODY]: print the response body, then the status on a last line.
api() {
    local args=(-sS -X "$1" -w '\n%{http_code}' "$API_URL$2")
    [ -n "${3:-}" ] && args+=(-H "Authorization: Token $3")
    [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' -d "$4")
    curl "${args[@]}"
}

# demo_token REGISTER_JSON LOGIN_JSON: register the user (or log in when they
# exist) and print a token.
demo_token() {
    local out code body token
    out=$(api POST /api/auth/register/ "" "$1") || die "cannot reach $API_URL"
    code=${out##*$'\n'} body=${out%$'\n'*}
    if [ "$code" = 409 ]; then
        out=$(api POST /api/auth/login/ "" "$2") || die "cannot reach $API_URL"
        code=${out##*$'\n'} body=${out%$'\n'*}
    fi
    token=$(printf '%s' "$body" | json_get token)
    [ -n "$token" ] || die "could not get a token for $1 (HTTP $code): $body"
    echo "$token"
}

cmd_demo() {
    [ $# -eq 1 ] || usage
    set_state "$1" || die "no stack in $1 (make run)"
    load_env
    local user='{"username":"demo","email":"demo@example.com","password":"demo-password-123"}'
    local login='{"username":"demo","password":"demo-password-123"}'
    local admin='{"username":"admin","email":"admin@example.com","password":"admin-password-123"}'
    local admin_login='{"username":"admin","password":"admin-password-123"}'
    local out token admin_token rid
    token=$(demo_token "$user" "$login")
    # The staff user of the admin API. No endpoint grants the first staff
    # role, so it is granted in the database, before the new token is used
    # (a resolved token caches the staff flag for AUTHN_CACHE_TTL).
    admin_token=$(demo_token "$admin" "$admin_login")
    psql -X -q -v ON_ERROR_STOP=1 -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB_NAME" -At \
        -c "UPDATE auth_user SET is_staff = true WHERE lower(username) = 'admin'" >/dev/null ||
        die "could not make the admin user staff"
    # A residence to put the example task in: the demo user's first, or a new one.
    out=$(api GET /api/residences/ "$token") || die "cannot reach $API_URL"
    rid=$(printf '%s' "${out%$'\n'*}" | json_get results 0 id)
    if [ -z "$rid" ]; then
        out=$(api POST /api/residences/ "$token" '{"name":"Demo home","city":"Springfield","time_zone":"America/Chicago"}') ||
            die "cannot reach $API_URL"
        rid=$(printf '%s' "${out%$'\n'*}" | json_get id)
        [ -n "$rid" ] || die "could not create the demo residence: ${out%$'\n'*}"
    fi
    local due
    due=$(date -u -d '+7 days' +%F)
    cat <<EOF

honeyDue is up on $API_URL  (stop it: make stop; logs: ${STATE}/log/)
mail the app sends lands in ${HD_MAIL_DIR#"$REPO"/}/ (one .eml file per message; SMTP sink at $SMTP_URL)
pushes land in ${HD_PUSH_DIR#"$REPO"/}/sent/ (one .json file per push; APNs and FCM stand-in at $APNS_URL)
demo user: demo / demo-password-123, token $token
staff user: admin / admin-password-123, token $admin_token (the admin panel: $API_URL/admin/)

# log in (each login returns a new token)
curl -s -X POST $API_URL/api/auth/login/ -H 'Content-Type: application/json' -d '$login'

# create a residence
curl -s -X POST $API_URL/api/residences/ -H "Authorization: Token $token" -H 'Content-Type: application/json' -d '{"name":"Lake cabin","time_zone":"Europe/Berlin"}'

# create a task in residence $rid
curl -s -X POST $API_URL/api/tasks/ -H "Authorization: Token $token" -H 'Content-Type: application/json' -d '{"residence_id":$rid,"title":"Replace furnace filter","priority":"high","frequency":"quarterly","due_date":"$due"}'

# list tasks
curl -s $API_URL/api/tasks/ -H "Authorization: Token $token"

# admin (staff only): the dashboard's totals, and users by most recent login
curl -s $API_URL/api/admin/stats/ -H "Authorization: Token $admin_token"
curl -s '$API_URL/api/admin/users/?ordering=-last_login&page_size=10' -H "Authorization: Token $admin_token"
EOF
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1
    shift
    case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    env) cmd_env "$@" ;;
    demo) cmd_demo "$@" ;;
    status) cmd_status "$@" ;;
    redis-stop)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        redis_stop
        ;;
    redis-start)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        REDIS_PORT='' redis_start
        ;;
    pg-stop)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        pg_stop
        ;;
    pg-start)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        PG_PORT='' pg_start
        ;;
    smtp-stop)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        smtp_stop
        ;;
    smtp-start)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        SMTP_PORT='' smtp_start
        ;;
    s3-stop)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        s3_stop
        ;;
    s3-start)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        S3_PORT='' s3_start
        ;;
    push-stop)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        push_stop
        ;;
    push-start)
        [ $# -eq 1 ] || usage
        set_state "$1" || die "no stack in $1"
        PUSH_PORT='' push_start
        ;;
    fcgi-restart)
        [ $# -eq 2 ] || usage
        set_state "$1" || die "no stack in $1"
        set_bin "$2"
        load_env
        fcgi_stop || true
        fcgi_start
        wait_health "$API_URL"
        ;;
    storage-backend)
        [ $# -eq 3 ] || usage
        case $2 in local | s3) ;; *) usage ;; esac
        set_state "$1" || die "no stack in $1"
        set_bin "$3"
        sed -i "s/^export STORAGE_BACKEND=.*/export STORAGE_BACKEND=$2/" "$STATE/env"
        load_env
        fcgi_stop || true
        worker_stop || true
        fcgi_start
        worker_start
        wait_health "$API_URL"
        say "documents are stored in the $2 backend"
        ;;
    worker-stop | worker-start)
        [ $# -ge 1 ] || usage
        set_state "$1" || die "no stack in $1"
        if [ "$cmd" = worker-stop ]; then worker_stop; else
            load_env
            set_bin "${2:-$HD_BIN}"
            worker_start
        fi
        ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
