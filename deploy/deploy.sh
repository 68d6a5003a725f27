#!/bin/bash
# deploy.sh - build, push and roll out one release (DESIGN.md 10; docs/deploying.md).
# From the repository root:
#
#   IMAGE_REPO=registry.example.com/honeydue deploy/deploy.sh [--refresh-cloudflare-ips] [TAG]
#   deploy/deploy.sh refresh-cloudflare-ips
#
# refresh-cloudflare-ips (alone: only that; as a flag: first, then the
# release) fetches Cloudflare's published ranges (CLOUDFLARE_IPS_URLS,
# https://www.cloudflare.com/ips-v4 and ips-v6) with curl, and
# render_configmap.py --set-cloudflare-ips checks them (every line a public
# CIDR, none wider than /8)
# before it rewrites deploy/cloudflare-ips.txt and 10-configmap.yaml;
# commit both (docs/deploying.md, The client address).
# TAG defaults to the commit (git rev-parse --short HEAD). In order:
#   1. docker buildx build --platform linux/amd64 --push -f deploy/Dockerfile
#      -t IMAGE_REPO:TAG . : the cluster's nodes are x86_64 (DESIGN.md 10),
#      so the image is amd64 whatever machine builds it (an arm64 laptop
#      would otherwise push an arm64 image the nodes cannot run); --push
#      because a cross-built image need not be in the local image store
#   2. render deploy/k8s/ into a temporary directory: the placeholder image
#      registry.example.com/honeydue:TAG becomes IMAGE_REPO:TAG,
#      CONFIG_HASH the sha256 of 10-configmap.yaml (a changed config rolls
#      the pods), and the Ingress's class traefik INGRESS_CLASS; apply
#      everything but the migrate Job and the two Deployments of the app
#      (namespace, config, Redis, Service, Ingress, budgets)
#   3. delete the previous migrate Job, apply the new one, wait for it to
#      complete (MIGRATE_TIMEOUT seconds, 330: the Job's own deadline, 300,
#      plus a margin, so the Job normally fails itself first); when it fails or times out,
#      print its log and stop here: the running release is untouched
#   4. apply the API and worker Deployments (the new image rolls them) and
#      wait for both rollouts (ROLLOUT_TIMEOUT seconds, 300 each); a rollout
#      that does not finish is reported with the undo command
# The Secret honeydue-secrets must exist with a value for every key of
# deploy/k8s/secret.yaml.example (checked in step 2, by the keys' names
# alone: deploy.sh never reads a value). The Secret honeydue-push (the push
# providers' key files, deploy/k8s/push-secret.yaml.example) is optional:
# step 2 says in one line whether it exists and which of its keys it holds,
# and never stops for it.
# INGRESS_CLASS (default traefik, k3s's bundled ingress) names the
# cluster's IngressClass. SKIP_BUILD=1 skips step 1 (the image is already
# pushed). KUBECTL and DOCKER name the clients (kubectl and docker on PATH
# by default).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KUBECTL=${KUBECTL:-kubectl}
DOCKER=${DOCKER:-docker}
NS=honeydue
PLACEHOLDER=registry.example.com/honeydue:TAG
MIGRATE_TIMEOUT=${MIGRATE_TIMEOUT:-330}
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300}
POLL_SECONDS=${POLL_SECONDS:-2}
PLATFORM=linux/amd64 # the nodes' (DESIGN.md 10), not this machine's

say() { echo "deploy: $*"; }
die() {
    echo "deploy: $*" >&2
    exit 1
}

CURL=${CURL:-curl}
CLOUDFLARE_IPS_URLS=${CLOUDFLARE_IPS_URLS:-https://www.cloudflare.com/ips-v4 https://www.cloudflare.com/ips-v6}

# Cloudflare's ranges, fetched now, into deploy/cloudflare-ips.txt and the
# ConfigMap; nothing changes unless every list is fetched and parses.
refresh_cloudflare_ips() {
    local dir url n=0
    dir=$(mktemp -d /tmp/honeydue-cf.XXXXXX)
    local files=()
    for url in $CLOUDFLARE_IPS_URLS; do
        n=$((n + 1))
        if ! "$CURL" -fsS --max-time 30 -o "$dir/$n.txt" "$url"; then
            rm -rf "$dir"
            die "could not fetch $url: deploy/cloudflare-ips.txt unchanged"
        fi
        files+=("$dir/$n.txt")
    done
    [ "$n" -gt 0 ] || die "CLOUDFLARE_IPS_URLS is empty"
    if ! python3 "$REPO/deploy/render_configmap.py" --set-cloudflare-ips "${files[@]}"; then
        rm -rf "$dir"
        die "Cloudflare's lists did not parse: deploy/cloudflare-ips.txt unchanged"
    fi
    rm -rf "$dir"
    git -C "$REPO" status --short -- deploy/cloudflare-ips.txt deploy/k8s/10-configmap.yaml 2>/dev/null || true
}

case ${1:-} in
refresh-cloudflare-ips)
    refresh_cloudflare_ips
    say "refreshed Cloudflare's ranges; commit deploy/cloudflare-ips.txt and deploy/k8s/10-configmap.yaml"
    exit 0
    ;;
--refresh-cloudflare-ips)
    shift
    REFRESH=1
    ;;
esac

[ -n "${IMAGE_REPO:-}" ] || die "set IMAGE_REPO (e.g. registry.example.com/honeydue)"
TAG=${1:-$(git -C "$REPO" rev-parse --short HEAD)}
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not a valid image tag: '$TAG'"
IMAGE=$IMAGE_REPO:$TAG
[ "${REFRESH:-0}" != 1 ] || refresh_cloudflare_ips # before the ConfigMap's hash is taken
INGRESS_CLASS=${INGRESS_CLASS:-traefik}
[[ $INGRESS_CLASS =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]] ||
    die "not a valid IngressClass name: '$INGRESS_CLASS'"

kc() { "$KUBECTL" -n "$NS" "$@"; }

# ---- 1. the image ---------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building $IMAGE"
    "$DOCKER" buildx build --platform "$PLATFORM" --push -f "$REPO/deploy/Dockerfile" -t "$IMAGE" "$REPO"
fi

# ---- 2. the manifests -------------------------------------------------------------
OUT=$(mktemp -d /tmp/honeydue-deploy.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
HASH=$(sha256sum "$REPO/deploy/k8s/10-configmap.yaml" | cut -c1-16)
for f in "$REPO"/deploy/k8s/*.yaml; do
    sed -e "s|$PLACEHOLDER|$IMAGE|g" -e "s|CONFIG_HASH|$HASH|g" \
        -e "s|^\( *ingressClassName:\) traefik\$|\1 $INGRESS_CLASS|" "$f" >"$OUT/${f##*/}"
done
if grep -l "$PLACEHOLDER" "$OUT"/*.yaml; then
    die "a placeholder image is left in the files above"
fi
"$KUBECTL" apply -f "$OUT/00-namespace.yaml"
# The Secret holds every key of secret.yaml.example, none empty; only the
# keys' names are asked for, never a value.
SECRET_EXAMPLE=$REPO/deploy/k8s/secret.yaml.example
SECRET_KEYS=$(sed -n '/^stringData:/,/^[^ #]/s/^  \([A-Za-z0-9_.-]*\):.*/\1/p' "$SECRET_EXAMPLE")
[ -n "$SECRET_KEYS" ] || die "no keys under stringData in $SECRET_EXAMPLE"
# shellcheck disable=SC2016 # $k and $v are the go-template's, not the shell's
have=$(kc get secret honeydue-secrets -o 'go-template={{range $k, $v := .data}}{{if $v}}{{$k}}{{"\n"}}{{end}}{{end}}') ||
    die "no Secret honeydue-secrets in namespace $NS (see deploy/k8s/secret.yaml.example)"
missing=
for k in $SECRET_KEYS; do
    grep -qxF -- "$k" <<<"$have" || missing+=" $k"
done
[ -z "$missing" ] ||
    die "the Secret honeydue-secrets has no value for:$missing (see deploy/k8s/secret.yaml.example)"
# The push Secret is optional (without it, or one of its keys, that provider
# of the worker is off): one line saying what it holds, by the keys' names
# alone like the check above, and whether APNs has its ids in the config file.
PUSH_EXAMPLE=$REPO/deploy/k8s/push-secret.yaml.example
PUSH_KEYS=$(sed -n '/^stringData:/,/^[^ #]/s/^  \([A-Za-z0-9_.-]*\):.*/\1/p' "$PUSH_EXAMPLE")
[ -n "$PUSH_KEYS" ] || die "no keys under stringData in $PUSH_EXAMPLE"
# shellcheck disable=SC2016 # the go-template's variables
if ! push_have=$(kc get secret honeydue-push --ignore-not-found \
    -o 'go-template={{.metadata.name}}{{"\n"}}{{range $k, $v := .data}}{{if $v}}{{$k}}{{"\n"}}{{end}}{{end}}'); then
    say "push: could not read the Secret honeydue-push's keys; going on (push is optional)"
elif [ -z "$push_have" ]; then
    say "push: no Secret honeydue-push: push notifications off (deploy/k8s/push-secret.yaml.example says how to add it)"
else
    push_have=$(sed 1d <<<"$push_have") # the name: the Secret exists
    held='' lacking='' ignored='' apns_ids=''
    for k in $PUSH_KEYS; do
        if grep -qxF -- "$k" <<<"$push_have"; then held+=" $k"; else lacking+=" $k"; fi
    done
    for k in $push_have; do
        grep -qxF -- "$k" <<<"$PUSH_KEYS" || ignored+=" $k"
    done
    if [[ " $held " == *" apns-key.p8 "* ]]; then
        for k in APNS_KEY_ID APNS_TEAM_ID APNS_TOPIC; do
            grep -Eq "^[[:space:]]*${k}[[:space:]]*=[[:space:]]*[^[:space:]]" "$REPO/deploy/honeydue.conf" ||
                apns_ids+=" $k"
        done
    fi
    say "push: the Secret honeydue-push holds:${held:- nothing}${lacking:+; lacks (provider off):$lacking}${ignored:+; ignores (not a key the worker mounts):$ignored}${apns_ids:+; deploy/honeydue.conf has no$apns_ids (iOS push off)}"
fi
for f in "$OUT"/*.yaml; do
    case ${f##*/} in
    00-namespace.yaml | 40-api-deployment.yaml | 50-worker-deployment.yaml | 70-migrate-job.yaml) ;;
    *) "$KUBECTL" apply -f "$f" ;;
    esac
done

# ---- 3. the schema ----------------------------------------------------------------
say "migrating with $IMAGE"
kc delete job honeydue-migrate --ignore-not-found --wait=true
"$KUBECTL" apply -f "$OUT/70-migrate-job.yaml"
deadline=$((SECONDS + MIGRATE_TIMEOUT))
state=
while :; do
    # The Job's conditions that hold: Complete, or Failed (backoffLimit 0,
    # activeDeadlineSeconds), possibly with others (SuccessCriteriaMet...).
    conds=$(kc get job honeydue-migrate -o 'jsonpath={.status.conditions[?(@.status=="True")].type}') || conds=
    case " $conds " in
    *" Complete "*) state=complete ;;
    *" Failed "*) state=failed ;;
    esac
    [ -z "$state" ] || break
    if [ "$SECONDS" -ge "$deadline" ]; then
        state=timeout
        break
    fi
    sleep "$POLL_SECONDS"
done
if [ "$state" != complete ]; then
    kc logs job/honeydue-migrate --all-containers --tail=50 >&2 || true
    die "the migrate Job did not complete ($state): nothing rolled out; $IMAGE stays unreleased"
fi
say "migrations applied"

# ---- 4. the rollout -----------------------------------------------------------------
"$KUBECTL" apply -f "$OUT/40-api-deployment.yaml"
"$KUBECTL" apply -f "$OUT/50-worker-deployment.yaml"
rc=0
for d in honeydue-api honeydue-worker; do
    if ! kc rollout status "deployment/$d" --timeout="${ROLLOUT_TIMEOUT}s"; then
        echo "deploy: deployment/$d did not finish rolling out; to go back: kubectl -n $NS rollout undo deployment/$d" >&2
        rc=1
    fi
done
[ "$rc" -eq 0 ] || exit 1
say "released $IMAGE"
