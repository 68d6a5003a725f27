#!/bin/bash
# deps.sh [browser|secret-scan] - install the Debian 12 packages that
# building, running, testing and benchmarking honeydue-fcgi need (make run /
# make test / make bench call it); with "browser" (make test) also Debian's
# chromium and the browser tests' node packages (tests/browser:
# playwright-core, exactly as package-lock.json has it, with `npm ci`; it
# drives Debian's chromium and never downloads a browser), which `make run`
# does not need; with "secret-scan" (make secret-scan, .ci/run) the secret
# scanner's node packages (.ci/secretlint: secretlint, likewise). Idempotent
# and silent when everything is present; otherwise it names what is missing
# on one line and installs it with apt (root only) or npm.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
    gcc make libc6-dev
    libfcgi-dev libfcgi-bin libpq-dev libhiredis-dev libjson-c-dev libsodium-dev
    libcurl4-openssl-dev libssl-dev libdeflate-dev libbrotli-dev
    clang libclang-rt-14-dev
    spawn-fcgi nginx-light redis-server postgresql-15 postgresql-client-15
    wrk pgbouncer python3 python3-aiosmtpd openssl curl cppcheck clang-tidy clang-format procps iproute2
    python3-yaml python3-jsonschema python3-botocore python3-h2 python3-jwt python3-cryptography python3-brotli
)
mode=${1:-}
case $mode in
"" | browser | secret-scan) ;;
*)
    echo "usage: tests/deps.sh [browser|secret-scan]" >&2
    exit 2
    ;;
esac
[ "$mode" = browser ] && packages+=(chromium)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for p in "${packages[@]}"; do
    if installed "$p"; then
        continue
    fi
    # Any other nginx flavour (nginx-core, nginx-full, nginx-extras) serves as
    # well, and installing nginx-light next to one of them would conflict.
    if [ "$p" = nginx-light ] && { installed nginx-core || installed nginx-full || installed nginx-extras; }; then
        continue
    fi
    missing+=("$p")
done

# Node.js and npm for the browser tests and the secret scanner: the
# machine's own (any package or install that puts node and npm on PATH),
# else Debian's.
if [ -n "$mode" ] && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
    missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing packages and not root: run as root, or: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    # The stack runs its own Postgres, Redis and nginx under .run/: keep the
    # packages' maintainer scripts from starting the system-wide services too.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# DIR/node_modules as DIR/package-lock.json says: `npm ci` (which starts
# from an empty node_modules) only when the lock file differs from the one
# the last install recorded, so a second run does nothing.
npm_ci() {
    local dir=$1 probe=$2 stamp=$1/node_modules/.installed-package-lock.json out
    if cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null &&
        [ -e "$dir/node_modules/$probe/package.json" ]; then
        return 0
    fi
    echo "deps: npm ci in ${dir#"$REPO"/} ($probe)"
    if ! out=$(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error 2>&1); then
        printf '%s\n' "$out" >&2
        echo "deps: npm ci in ${dir#"$REPO"/} failed" >&2
        exit 1
    fi
    cp "$dir/package-lock.json" "$stamp"
}

case $mode in
browser) npm_ci "$REPO/tests/browser" playwright-core ;;
secret-scan) npm_ci "$REPO/.ci/secretlint" secretlint ;;
esac
