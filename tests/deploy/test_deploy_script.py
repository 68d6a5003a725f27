"""deploy/deploy.sh without a cluster or a Docker engine (none exists on
these machines): recording fake `kubectl` and `docker` executables first on
PATH log every call, and answer the Job's conditions and the rollouts as a
test tells them. Proves the order (build, push, the migrate Job deleted,
applied and waited for, then the API and worker rolled and waited for) and
that a failing or slow Job, or a failed build, rolls nothing.
"""
import contextlib
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading

import k8s
import pod

SCRIPT = os.path.join(k8s.REPO, "deploy", "deploy.sh")

FAKE_KUBECTL = r"""#!/bin/bash
# A recording kubectl: one line per call in $FAKE_LOG.
args=("$@")
line="kubectl"
for ((i = 0; i < ${#args[@]}; i++)); do
    a=${args[i]}
    if [ "$a" = -f ]; then
        f=${args[i + 1]}
        images=$(sed -n 's/^ *image: //p' "$f" | sort -u | tr '\n' ' ')
        hash=$(sed -n 's/^ *honeydue.dev\/config-hash: //p' "$f" | sort -u | tr '\n' ' ')
        class=$(sed -n 's/^ *ingressClassName: //p' "$f" | sort -u | tr '\n' ' ')
        line+=" -f ${f##*/} [images: ${images% }] [hash: ${hash% }] [class: ${class% }]"
        i=$((i + 1))
    else
        line+=" $a"
    fi
done
echo "$line" >>"$FAKE_LOG"
case " $* " in
*" get job honeydue-migrate "*)
    n=$(cat "$FAKE_LOG.polls" 2>/dev/null || echo 0)
    echo $((n + 1)) >"$FAKE_LOG.polls"
    if [ "$n" -lt "${FAKE_PENDING_POLLS:-0}" ]; then exit 0; fi
    printf "%s" "${FAKE_JOB_CONDITIONS-Complete}"
    ;;
*" get secret honeydue-push "*)
    # Absent unless FAKE_PUSH_KEYS is set (the names of its keys that have
    # a value); --ignore-not-found makes an absent Secret print nothing.
    [ "${FAKE_PUSH_RC:-0}" = 0 ] || exit "$FAKE_PUSH_RC"
    [ -z "${FAKE_PUSH_KEYS+set}" ] || printf "honeydue-push\n%s" "$FAKE_PUSH_KEYS"
    ;;
*" get secret "*)
    [ "${FAKE_SECRET_RC:-0}" = 0 ] || exit "$FAKE_SECRET_RC"
    printf "%s" "${FAKE_SECRET_KEYS-}" # the names of the keys that have a value
    ;;
*" rollout status "*) exit "${FAKE_ROLLOUT_RC:-0}" ;;
*" logs "*) echo "goose: migration 000012 failed: syntax error" ;;
esac
exit 0
"""

FAKE_DOCKER = r"""#!/bin/bash
echo "docker $*" >>"$FAKE_LOG"
[ "$1 $2" = "buildx build" ] && exit "${FAKE_BUILD_RC:-0}"
exit 0
"""


def _run(args=("v1.2.3",), repo=k8s.REPO, **env):
    """Run REPO's deploy.sh with the fakes (and the real curl) with ARGS;
    return (exit status, logged calls, output)."""
    with tempfile.TemporaryDirectory(prefix="hd-deploy-sh.") as tmp:
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        for name, text in (("kubectl", FAKE_KUBECTL), ("docker", FAKE_DOCKER)):
            path = os.path.join(bindir, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(path, 0o755)
        log = os.path.join(tmp, "calls.log")
        e = {"PATH": bindir + ":/usr/bin:/bin", "FAKE_LOG": log, "HOME": tmp, "no_proxy": "*",
             "IMAGE_REPO": "registry.test/honeydue", "POLL_SECONDS": "0.1",
             "FAKE_SECRET_KEYS": "".join(k + "\n" for k in k8s.secret_template()["stringData"])}
        e.update({k: str(v) for k, v in env.items()})
        r = subprocess.run(["bash", os.path.join(repo, "deploy", "deploy.sh"), *args], env=e,
                           capture_output=True, text=True, timeout=60, cwd=repo)
        calls = open(log, encoding="utf-8").read().splitlines() if os.path.exists(log) else []
        return r.returncode, calls, r.stdout + r.stderr


def _index(calls, needle):
    for i, c in enumerate(calls):
        if needle in c:
            return i
    raise AssertionError(f"no call with {needle!r} in:\n" + "\n".join(calls))


def _rolled(calls):
    return [c for c in calls if "40-api-deployment" in c or "50-worker-deployment" in c or
            "rollout" in c]


def test_script_is_valid_bash_and_shellcheck_clean():
    r = subprocess.run(["bash", "-n", SCRIPT], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if shutil.which("shellcheck"):
        r = subprocess.run(["shellcheck", SCRIPT], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout


def test_success_runs_job_then_waits_then_rolls_api_and_worker():
    rc, calls, out = _run(FAKE_PENDING_POLLS=3)
    assert rc == 0, out
    image = "registry.test/honeydue:v1.2.3"
    build = _index(calls, f"docker buildx build --platform linux/amd64 --push "
                          f"-f {k8s.REPO}/deploy/Dockerfile -t {image} {k8s.REPO}")
    ns = _index(calls, "apply -f 00-namespace.yaml")
    delete = _index(calls, "delete job honeydue-migrate --ignore-not-found")
    job = _index(calls, "apply -f 70-migrate-job.yaml")
    polls = [i for i, c in enumerate(calls) if "get job honeydue-migrate" in c]
    api = _index(calls, "apply -f 40-api-deployment.yaml")
    worker = _index(calls, "apply -f 50-worker-deployment.yaml")
    roll_api = _index(calls, "rollout status deployment/honeydue-api")
    roll_worker = _index(calls, "rollout status deployment/honeydue-worker")
    assert build < ns < delete < job < polls[0]
    assert len(polls) == 4, polls  # three pending answers, then Complete
    assert polls[-1] < api < worker < roll_api < roll_worker
    # The applied files carry the release's image and the config's hash.
    for name in ("70-migrate-job.yaml", "40-api-deployment.yaml", "50-worker-deployment.yaml"):
        line = calls[_index(calls, f"apply -f {name}")]
        assert image in line and k8s.IMAGE_PLACEHOLDER not in line, line
    for name in ("40-api-deployment.yaml", "50-worker-deployment.yaml"):
        line = calls[_index(calls, f"apply -f {name}")]
        assert "CONFIG_HASH" not in line and "[hash: " in line and "[hash: ]" not in line, line
    # The config, Redis, Service, Ingress and budgets are applied before the Job.
    for name in ("10-configmap.yaml", "30-redis.yaml", "41-api-service.yaml", "42-ingress.yaml",
                 "60-pdb.yaml"):
        assert _index(calls, f"apply -f {name}") < job, name
    assert "released registry.test/honeydue:v1.2.3" in out


def test_failed_migrate_job_aborts_before_any_rollout():
    rc, calls, out = _run(FAKE_JOB_CONDITIONS="Failed")
    assert rc != 0
    assert _index(calls, "apply -f 70-migrate-job.yaml") < _index(calls, "logs job/honeydue-migrate")
    assert _rolled(calls) == [], _rolled(calls)
    assert "did not complete (failed)" in out and "syntax error" in out


def test_migrate_job_timeout_aborts_before_any_rollout():
    rc, calls, out = _run(FAKE_JOB_CONDITIONS="", MIGRATE_TIMEOUT=1)
    assert rc != 0
    assert len([c for c in calls if "get job honeydue-migrate" in c]) >= 2
    assert _rolled(calls) == [], _rolled(calls)
    assert "did not complete (timeout)" in out


def test_failed_build_applies_nothing():
    rc, calls, out = _run(FAKE_BUILD_RC=1)
    assert rc != 0
    assert not [c for c in calls if c.startswith("kubectl")], calls
    assert not [c for c in calls if "docker push" in c]


def test_the_image_is_built_for_the_nodes_whatever_the_machine():
    # The cluster is x86_64 (DESIGN.md 10): an arm64 laptop's plain
    # `docker build` would push an image its nodes cannot run. Every build
    # deploy.sh runs names the platform, and nothing builds without it.
    rc, calls, out = _run()
    assert rc == 0, out
    builds = [c for c in calls if c.startswith("docker") and " build " in f" {c} "]
    assert builds and all("buildx build --platform linux/amd64 " in c for c in builds), builds


def test_missing_secret_stops_before_the_job():
    rc, calls, out = _run(FAKE_SECRET_RC=1)
    assert rc != 0
    assert not [c for c in calls if "70-migrate-job" in c or "delete job" in c]
    assert "honeydue-secrets" in out


def test_a_secret_without_every_key_stops_before_the_job():
    """The Secret must hold a value for every key of secret.yaml.example (the
    bucket's key pair among them): one missing or empty stops the deploy
    before the Job, naming it. deploy.sh asks only for the keys' names."""
    keys = list(k8s.secret_template()["stringData"])
    assert {"S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"} <= set(keys), keys
    for gone in keys:
        rc, calls, out = _run(FAKE_SECRET_KEYS="".join(k + "\n" for k in keys if k != gone))
        assert rc != 0, (gone, out)
        assert re.search(r"has no value for:.*\b%s\b" % gone, out), (gone, out)
        assert not [c for c in calls if "70-migrate-job" in c or "delete job" in c], (gone, calls)
    rc, calls, out = _run(FAKE_SECRET_KEYS="")  # a Secret with nothing in it
    assert rc != 0 and all(k in out for k in keys), out
    (ask,) = [c for c in calls if " get secret honeydue-secrets " in c]
    assert " -o go-template=" in ask and ".data" in ask and "jsonpath" not in ask, ask
    assert not re.search(r" -o (yaml|json)\b", ask), ask


PUSH_KEYS = ("apns-key.p8", "fcm-service-account.json")


def _push_line(out):
    lines = [x for x in out.splitlines() if x.startswith("deploy: push: ")]
    assert len(lines) == 1, out
    return lines[0]


def test_the_push_secret_is_optional_and_said():
    """The Secret honeydue-push is optional (without it the worker's push
    providers are off): deploy.sh releases whatever it holds, and says in
    one line, before anything rolls, whether it exists and which of its
    keys it holds, asking for the keys' names only."""
    assert set(PUSH_KEYS) == set(k8s.push_secret_template()["stringData"])
    # Absent.
    rc, calls, out = _run()
    assert rc == 0, out
    line = _push_line(out)
    assert "no Secret honeydue-push" in line and "push notifications off" in line, line
    (ask,) = [c for c in calls if " get secret honeydue-push " in c]
    assert "--ignore-not-found" in ask and " -o go-template=" in ask and ".data" in ask, ask
    assert not re.search(r" -o (yaml|json)\b", ask) and "jsonpath" not in ask, ask
    assert out.index(line) < out.index("migrating with"), out  # said before the Job
    assert "released registry.test/honeydue:v1.2.3" in out
    # Both keys, and the config file with APNs' ids (a copy where they are set).
    with _tree() as tree:
        conf = os.path.join(tree, "deploy", "honeydue.conf")
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        with open(conf, "w", encoding="utf-8") as f:
            f.write(pod.override_config(text, {"APNS_KEY_ID": "ABC123DEFG", "APNS_TEAM_ID": "DEF123GHIJ",
                                               "APNS_TOPIC": "com.example.honeydue"}))
        rc, calls, out = _run(repo=tree, FAKE_PUSH_KEYS="".join(k + "\n" for k in PUSH_KEYS))
        assert rc == 0, out
        line = _push_line(out)
        assert line == "deploy: push: the Secret honeydue-push holds: apns-key.p8 fcm-service-account.json", line
    # The committed config file has no APNs ids yet: said with the key.
    rc, calls, out = _run(FAKE_PUSH_KEYS="".join(k + "\n" for k in PUSH_KEYS))
    assert rc == 0, out
    line = _push_line(out)
    assert "holds: apns-key.p8 fcm-service-account.json" in line, line
    assert re.search(r"deploy/honeydue.conf has no APNS_KEY_ID APNS_TEAM_ID APNS_TOPIC \(iOS push off\)", line), line
    # One key only, and one under a name the worker never mounts (the file's
    # own name, from --from-file=AuthKey_ABC123DEFG.p8 without KEY=).
    rc, calls, out = _run(FAKE_PUSH_KEYS="fcm-service-account.json\nAuthKey_ABC123DEFG.p8\n")
    assert rc == 0, out
    line = _push_line(out)
    assert "holds: fcm-service-account.json;" in line, line
    assert "lacks (provider off): apns-key.p8" in line and "ignores" in line and "AuthKey_ABC123DEFG.p8" in line, line
    assert "APNS_KEY_ID" not in line, line  # no APNs key: its ids are not the question
    # An empty Secret, and one that cannot be read: still a release.
    rc, calls, out = _run(FAKE_PUSH_KEYS="")
    assert rc == 0 and "holds: nothing; lacks (provider off): apns-key.p8 fcm-service-account.json" in \
        _push_line(out), out
    rc, calls, out = _run(FAKE_PUSH_RC=1)
    assert rc == 0 and "could not read the Secret honeydue-push" in _push_line(out), out
    assert "released registry.test/honeydue:v1.2.3" in out


def test_failed_rollout_is_reported_with_the_way_back():
    rc, calls, out = _run(FAKE_ROLLOUT_RC=1)
    assert rc != 0
    assert _index(calls, "rollout status deployment/honeydue-api") < \
        _index(calls, "rollout status deployment/honeydue-worker")
    assert "rollout undo deployment/honeydue-api" in out


def test_script_waits_longer_than_the_job_may_run():
    # The Job's own deadline fails it first; the script then reports Failed
    # with its log, instead of giving up on a Job that still runs.
    deadline = k8s.find("Job", "honeydue-migrate")["spec"]["activeDeadlineSeconds"]
    with open(SCRIPT, encoding="utf-8") as f:
        m = re.search(r"^MIGRATE_TIMEOUT=\$\{MIGRATE_TIMEOUT:-(\d+)\}$", f.read(), re.M)
    assert m and int(m.group(1)) > deadline, (m and m.group(1), deadline)


def test_ingress_class_is_traefik_unless_told_otherwise():
    rc, calls, out = _run()
    assert rc == 0, out
    assert "[class: traefik]" in calls[_index(calls, "apply -f 42-ingress.yaml")]
    rc, calls, out = _run(INGRESS_CLASS="nginx")
    assert rc == 0, out
    assert "[class: nginx]" in calls[_index(calls, "apply -f 42-ingress.yaml")]
    # A name Kubernetes would refuse stops the deploy before anything is built.
    rc, calls, out = _run(INGRESS_CLASS="Bad Class|x")
    assert rc != 0 and "IngressClass" in out and calls == [], (out, calls)


# ---- refresh-cloudflare-ips: a local server stands for Cloudflare -----------------
# Nothing here reaches the network: Cloudflare's two lists are served on
# loopback, and the script runs in a copy of deploy/ and nginx/ (it writes
# deploy/cloudflare-ips.txt and the ConfigMap next to itself).

NEW_V4 = "173.245.48.0/20\n103.21.244.0/22\n104.16.0.0/13\n192.0.0.0/29\n"  # 192.0.0.0/29: not public
NEW_V6 = "2400:cb00::/32\n2606:4700::/32\n"


@contextlib.contextmanager
def _cloudflare(pages):
    """An HTTP server on loopback answering PATH -> (status, body) from PAGES;
    yields its base URL."""
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = pages.get(self.path, (404, "not found"))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@contextlib.contextmanager
def _tree():
    """A copy of the repository's deploy/ and nginx/ (all deploy.sh reads)."""
    with tempfile.TemporaryDirectory(prefix="hd-cf-tree.") as tree:
        for d in ("deploy", "nginx"):
            shutil.copytree(os.path.join(k8s.REPO, d), os.path.join(tree, d))
        yield tree


def _read(tree, *path):
    with open(os.path.join(tree, *path), encoding="utf-8") as f:
        return f.read()


def test_refresh_cloudflare_ips_writes_the_list_and_the_configmap():
    with _tree() as tree, _cloudflare({"/ips-v4": (200, NEW_V4.replace("192.0.0.0/29\n", "")),
                                       "/ips-v6": (200, NEW_V6)}) as url:
        rc, calls, out = _run(args=["refresh-cloudflare-ips"], repo=tree,
                              CLOUDFLARE_IPS_URLS=f"{url}/ips-v4 {url}/ips-v6")
        assert rc == 0, out
        assert calls == [], calls  # nothing built, nothing applied
        lines = [x for x in _read(tree, "deploy", "cloudflare-ips.txt").splitlines()
                 if x and not x.startswith("#")]
        assert lines == ["173.245.48.0/20", "103.21.244.0/22", "104.16.0.0/13",
                         "2400:cb00::/32", "2606:4700::/32"], lines
        cm = _read(tree, "deploy", "k8s", "10-configmap.yaml")
        assert "104.16.0.0/13 cloudflare;" in cm and "2606:4700::/32 1;" in cm
        assert "108.162.192.0/18" not in cm  # the committed list's, no longer published here
        r = subprocess.run(["/usr/bin/python3", os.path.join(tree, "deploy", "render_configmap.py"),
                            "--check"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout


def test_refresh_cloudflare_ips_refuses_what_is_not_the_list():
    bad = [
        {"/ips-v4": (200, NEW_V4), "/ips-v6": (200, NEW_V6)},  # a private range in it
        {"/ips-v4": (200, "<html>Just a moment...</html>\n"), "/ips-v6": (200, NEW_V6)},
        {"/ips-v4": (200, ""), "/ips-v6": (200, NEW_V6)},
        {"/ips-v4": (200, "0.0.0.0/1\n"), "/ips-v6": (200, NEW_V6)},
        {"/ips-v6": (200, NEW_V6)},  # 404
    ]
    for pages in bad:
        with _tree() as tree, _cloudflare(pages) as url:
            before = (_read(tree, "deploy", "cloudflare-ips.txt"), _read(tree, "deploy", "k8s", "10-configmap.yaml"))
            rc, calls, out = _run(args=["refresh-cloudflare-ips"], repo=tree,
                                  CLOUDFLARE_IPS_URLS=f"{url}/ips-v4 {url}/ips-v6")
            assert rc != 0 and "cloudflare-ips.txt unchanged" in out, (pages, out)
            after = (_read(tree, "deploy", "cloudflare-ips.txt"), _read(tree, "deploy", "k8s", "10-configmap.yaml"))
            assert after == before, pages


def test_refresh_flag_refreshes_before_the_release_applies_the_config():
    with _tree() as tree, _cloudflare({"/ips-v4": (200, "104.16.0.0/13\n"),
                                       "/ips-v6": (200, NEW_V6)}) as url:
        old_hash = subprocess.run(["sha256sum", os.path.join(tree, "deploy", "k8s", "10-configmap.yaml")],
                                  capture_output=True, text=True).stdout[:16]
        rc, calls, out = _run(args=["--refresh-cloudflare-ips", "v1.2.3"], repo=tree,
                              CLOUDFLARE_IPS_URLS=f"{url}/ips-v4 {url}/ips-v6")
        assert rc == 0, out
        new_hash = subprocess.run(["sha256sum", os.path.join(tree, "deploy", "k8s", "10-configmap.yaml")],
                                  capture_output=True, text=True).stdout[:16]
        assert new_hash != old_hash
        # The pods roll with the refreshed config: its hash is the new file's.
        line = calls[_index(calls, "apply -f 40-api-deployment.yaml")]
        assert f"[hash: {new_hash}]" in line, (line, new_hash)
        assert "released registry.test/honeydue:v1.2.3" in out
