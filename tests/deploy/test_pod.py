"""Pods on localhost: the migrate Job's, the API Deployment's and the
worker's containers started on this host exactly as their manifests say
(pod.py: only paths and ports rewritten, and the config file pointed at the
test stack's Postgres, Redis and S3 server), then stopped as Kubernetes
stops them. The pods keep the cluster's STORAGE_BACKEND=s3: documents go to
the stack's bucket.

Needs tests/deploy/run.sh's environment: DEPLOY_BIN (the binaries standing
for the image's /usr/local/bin), the stack's DB_PORT, REDIS_URL, SMTP_URL
and S3_* (with HD_S3_DIR, where its server keeps the objects), and
DEPLOY_POD_PORT (the host port for the pod's 8080).
"""
import glob
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import k8s
import pod

SETPRIV = shutil.which("setpriv")


def _env(name):
    v = os.environ.get(name)
    assert v, f"{name} is not set: run tests/deploy/run.sh (the stack did not start?)"
    return v


def _psql(sql, db="postgres"):
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                        "-p", _env("DB_PORT"), "-U", "postgres", "-d", db, "-At", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"psql failed: {sql}\n{p.stderr}"
    return p.stdout.rstrip("\n")


class Scratch:
    """A fresh database and a temp root for one test; removes both.
    REDIS_DB: the Redis database its pods use (0, the stack's, by default;
    another keeps the stack's own honeydue-worker, which works on 0, from
    taking the jobs its pods enqueue; emptied before and after)."""

    def __init__(self, label, redis_db=0):
        self.redis_db = redis_db
        self.db = f"deploy_{label}_{secrets.token_hex(4)}"
        self.root = tempfile.mkdtemp(prefix=f"hd-pod-{label}.")
        os.chmod(self.root, 0o755)
        self.pods = []

    def __enter__(self):
        _psql(f'CREATE DATABASE "{self.db}"')
        if self.redis_db:
            _redis("FLUSHDB", db=self.redis_db)
        return self

    def __exit__(self, *exc):
        for p in self.pods:
            p.stop_all()
        _psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        if self.redis_db:
            _redis("FLUSHDB", db=self.redis_db)
        shutil.rmtree(self.root, ignore_errors=True)

    def pod(self, workload, ports=None, configmap_data=None, config=None, secret_files=None):
        """A Pod of WORKLOAD on this scratch's database, the test Secret and
        the sanitizers' logs in its own log directory (CONFIGMAP_DATA and
        SECRET_FILES: pod.Pod's; CONFIG: more overrides of the config file)."""
        config = {"DB_HOST": "127.0.0.1", "DB_PORT": _env("DB_PORT"), "DB_NAME": self.db,
                  "DB_USER": "postgres", "DB_SSLMODE": "disable", **(config or {})}
        # REDIS_URL is the Secret's (the stack's Redis and password, this
        # scratch's database): the config file must not override it.
        assert "REDIS_URL" not in pod.parse_config(
            k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"])
        # The bucket: the stack's S3 server stands for B2 (the key pair is
        # the Secret's, stack_secret). STORAGE_BACKEND stays the cluster's.
        config.update({k: _env(k) for k in ("S3_ENDPOINT", "S3_REGION", "S3_BUCKET",
                                            "S3_FORCE_PATH_STYLE")})
        root = os.path.join(self.root, workload["metadata"]["name"])
        logs = os.path.join(root, "log")
        extra = {"ASAN_OPTIONS": f"detect_leaks=1:abort_on_error=0:log_path={logs}/asan",
                 "UBSAN_OPTIONS": f"print_stacktrace=1:halt_on_error=0:log_path={logs}/ubsan"}
        p = pod.Pod(workload, root, _env("DEPLOY_BIN"), ports=ports, config=config,
                    secret=stack_secret(self.redis_db), extra_env=extra, configmap_data=configmap_data,
                    secret_files=secret_files)
        p.prepare()
        self.pods.append(p)
        return p


def _stack_redis_url(db):
    """The stack's REDIS_URL (with its password) on database DB."""
    return re.sub(r"/\d*$", "", _env("REDIS_URL")) + f"/{db}"


def stack_secret(redis_db=0):
    """The Secret template's keys with values for the test stack."""
    known = {"SECRET_KEY": secrets.token_hex(32), "DB_PASSWORD": "",
             "REDIS_URL": _stack_redis_url(redis_db),
             "SMTP_URL": _env("SMTP_URL"),
             "S3_ACCESS_KEY_ID": _env("S3_ACCESS_KEY_ID"),
             "S3_SECRET_ACCESS_KEY": _env("S3_SECRET_ACCESS_KEY")}
    keys = k8s.secret_template()["stringData"]
    missing = set(keys) - set(known)
    assert not missing, f"the test has no value for the Secret's {missing}"
    return {k: known[k] for k in keys}


def _sanitizer_reports(p):
    out = []
    for f in sorted(glob.glob(os.path.join(p.log_dir, "asan.*")) +
                    glob.glob(os.path.join(p.log_dir, "ubsan.*"))):
        with open(f, encoding="utf-8", errors="replace") as fh:
            out.append(f"--- {f}\n{fh.read()}")
    return out


def _run_migrate_job(scratch):
    job = k8s.find("Job", "honeydue-migrate")
    p = scratch.pod(job)
    (c,) = job["spec"]["template"]["spec"]["containers"]
    rc = p.run_to_end(c["name"], timeout=60)
    assert rc == 0, f"the migrate Job's command failed ({rc}):\n{p.log(c['name'])}"
    assert not _sanitizer_reports(p), _sanitizer_reports(p)
    return p


def _newest_migration():
    names = os.listdir(os.path.join(k8s.REPO, "migrations"))
    return max(int(n.split("_", 1)[0]) for n in names if re.match(r"^\d+_.*\.sql$", n))


def test_migrate_job_migrates_a_fresh_database():
    with Scratch("job") as s:
        _run_migrate_job(s)
        newest = _newest_migration()
        assert _psql("SELECT max(version_id) FROM goose_db_version", s.db) == str(newest)
        assert _psql("SELECT count(*) FROM goose_db_version WHERE NOT is_applied", s.db) == "0"
        assert _psql("SELECT to_regclass('public.task_task') IS NOT NULL", s.db) == "t"
        # The next deploy's Job on a migrated database: nothing to do, success.
        _run_migrate_job(s)
        assert _psql("SELECT count(*) FROM goose_db_version", s.db) == str(newest + 1)


def _get(port, path, timeout=3):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return None, str(e).encode()


def _proc_status(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if _proc_status(d).get("PPid") == str(pid):
                    out.append(int(d))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return out


def _connect_as(path, uid, gid, groups):
    """Whether a process with these ids may connect to the unix socket PATH."""
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
            "try:\n s.connect(sys.argv[1])\nexcept PermissionError:\n sys.exit(13)\n")
    grp = [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    r = subprocess.run([SETPRIV, f"--reuid={uid}", f"--regid={gid}", *grp, "--",
                        "/usr/bin/python3", "-c", code, path], capture_output=True, text=True)
    assert r.returncode in (0, 13), r.stderr
    return r.returncode == 0


def _probe_port(container_port, ports):
    return ports[container_port] if isinstance(container_port, int) else ports["http"]


def _start_api_pod(s, d, port, configmap_data=None):
    """The deploy's order on scratch S: the migrate Job, then the API pod of
    Deployment D (init containers to completion, then the containers
    together) on host PORT; returns (pod, body of /api/ready/) once ready."""
    spec = d["spec"]["template"]["spec"]
    _run_migrate_job(s)
    p = s.pod(d, ports={8080: port}, configmap_data=configmap_data)
    for c in spec.get("initContainers", []):
        rc = p.run_to_end(c["name"], timeout=30)
        assert rc == 0, f"init container {c['name']} failed ({rc}):\n{p.log(c['name'])}"
    for c in spec["containers"]:
        p.start(c["name"])
    deadline = time.monotonic() + 45
    status = body = None
    while time.monotonic() < deadline:
        status, body = _get(port, "/api/ready/")
        if status == 200:
            break
        for name, proc in p.procs.items():
            assert proc.poll() is None or name in [c["name"] for c in spec.get("initContainers", [])], \
                f"{name} exited ({proc.returncode}):\n{p.log(name)}"
        time.sleep(0.3)
    assert status == 200, f"/api/ready/ answered {status}\nfcgi:\n{p.log('fcgi')}\nnginx:\n{p.log('nginx')}"
    return p, body


def test_api_pod_serves_through_its_nginx_and_drains_on_termination():
    d = k8s.find("Deployment", "honeydue-api")
    spec = d["spec"]["template"]["spec"]
    port = int(_env("DEPLOY_POD_PORT"))
    with Scratch("api") as s:
        p, body = _start_api_pod(s, d, port)
        assert b'"database"' in body or b"ok" in body, body
        # Every HTTP probe of the pod passes, on the port the pod would use.
        ports = {8080: port, "http": port}
        for c in spec["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = c.get(probe, {}).get("httpGet")
                if get:
                    st, _ = _get(_probe_port(get["port"], ports), get["path"])
                    assert st == 200, f"{c['name']} {probe} {get['path']}: {st}"
        # What the init container copied is what nginx serves.
        st, body = _get(port, "/api/openapi.yaml")
        assert st == 200 and b"\nopenapi: " in body, (st, body[:40])
        st, body = _get(port, "/")
        assert st == 200 and b"<html" in body.lower(), st
        # ... the admin panel too (static/admin/, copied with the rest), with
        # its own policy from the pod's rendering of the template.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/", timeout=3) as r:
            assert r.status == 200 and b'src="/admin/js/app.js"' in r.read()
            assert "script-src 'self';" in r.headers["Content-Security-Policy"], r.headers
        st, _ = _get(port, "/admin/js/app.js")
        assert st == 200, st
        # /metrics from loopback (the pod's own network) is allowed.
        st, _ = _get(port, "/metrics")
        assert st == 200, st

        # spawn-fcgi -n exec'd the master: the container's process is honeydue-fcgi.
        fcgi = p.procs["fcgi"]
        assert os.readlink(f"/proc/{fcgi.pid}/exe").endswith("/honeydue-fcgi")
        fcgi_cmd = p.containers["fcgi"]["command"]
        sock = p.host_path("fcgi", fcgi_cmd[fcgi_cmd.index("-s") + 1])
        st_sock = os.stat(sock)
        assert stat.S_ISSOCK(st_sock.st_mode)
        assert stat.S_IMODE(st_sock.st_mode) == 0o660, oct(st_sock.st_mode)
        if pod.IS_ROOT:
            fs_group = spec["securityContext"]["fsGroup"]
            uid, gid, _ = p.identity("fcgi")
            assert _proc_status(fcgi.pid)["Uid"].split()[0] == str(uid)
            assert st_sock.st_uid == uid and st_sock.st_gid == fs_group
            # nginx runs wholly as its uid, with the pod's fsGroup among its
            # groups, and that group is what lets it use the socket.
            nuid, ngid, ngroups = p.identity("nginx")
            nginx_master = p.procs["nginx"].pid
            workers = _children(nginx_master)
            assert workers, "no nginx workers"
            for pid in [nginx_master] + workers:
                ps = _proc_status(pid)
                assert ps["Uid"].split()[0] == str(nuid), ps["Uid"]
                assert str(fs_group) in ps["Groups"].split(), ps["Groups"]
            assert _connect_as(sock, nuid, ngid, ngroups)
            assert not _connect_as(sock, nuid, ngid, [])

        # Termination as the kubelet does it: both preStop hooks at once;
        # the pod keeps serving while they run; then the stop signals (the
        # stock nginx image's STOPSIGNAL is SIGQUIT, the pool gets SIGTERM),
        # and every process exits cleanly within the grace period.
        start = time.monotonic()
        grace = spec["terminationGracePeriodSeconds"]
        hooks = {c["name"]: p.exec(c["name"], c["lifecycle"]["preStop"]["exec"]["command"])
                 for c in spec["containers"] if c.get("lifecycle", {}).get("preStop")}
        assert set(hooks) == {"nginx", "fcgi"}
        during = []

        def poll_during():
            time.sleep(1)
            during.append(_get(port, "/api/ready/")[0])

        t = threading.Thread(target=poll_during)
        t.start()
        t.join()
        assert during == [200], f"not serving during preStop: {during}"
        for name, h in hooks.items():
            rc = h.wait(timeout=grace)
            assert rc == 0, f"{name} preStop failed ({rc})"
        deadline = start + grace
        if p.wait_exit("nginx", time.monotonic() + 5) is None:
            p.procs["nginx"].send_signal(3)  # SIGQUIT
        fcgi.terminate()
        assert p.wait_exit("nginx", deadline) == 0, f"nginx:\n{p.log('nginx')}"
        assert p.wait_exit("fcgi", deadline) == 0, f"fcgi:\n{p.log('fcgi')}"
        assert time.monotonic() - start < grace
        assert not os.path.exists(sock) or not _connectable(sock)
        assert not _sanitizer_reports(p), _sanitizer_reports(p)


def _connectable(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_worker_pod_runs_and_stops_on_sigterm():
    d = k8s.find("Deployment", "honeydue-worker")
    spec = d["spec"]["template"]["spec"]
    with Scratch("worker") as s:
        _run_migrate_job(s)
        p = s.pod(d)
        (c,) = spec["containers"]
        proc = p.start(c["name"])
        time.sleep(3)
        assert proc.poll() is None, f"the worker exited ({proc.returncode}):\n{p.log(c['name'])}"
        if pod.IS_ROOT:
            uid, _, _ = p.identity(c["name"])
            assert _proc_status(proc.pid)["Uid"].split()[0] == str(uid)
        start = time.monotonic()
        proc.terminate()
        assert p.wait_exit(c["name"], start + spec["terminationGracePeriodSeconds"]) == 0, \
            p.log(c["name"])
        assert not _sanitizer_reports(p), _sanitizer_reports(p)


# ---- Redis: its password from the Secret ----------------------------------------

def _redis_pod(s, redis_url):
    """The Redis Deployment's pod on scratch S, its Secret's REDIS_URL
    REDIS_URL, on host port DEPLOY_REDIS_PORT; started."""
    d = k8s.find("Deployment", "redis")
    p = pod.Pod(d, os.path.join(s.root, "redis"), _env("DEPLOY_BIN"),
                ports={6379: int(_env("DEPLOY_REDIS_PORT"))},
                secret=dict(stack_secret(), REDIS_URL=redis_url))
    p.prepare()
    s.pods.append(p)
    p.start("redis")
    return p


def test_the_redis_pod_requires_the_password_of_the_secrets_redis_url():
    port = int(_env("DEPLOY_REDIS_PORT"))
    password = secrets.token_hex(32)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    with Scratch("redis") as s:
        p = _redis_pod(s, url)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if _redis("PING", url=url) == "PONG":
                    break
            except AssertionError:
                pass
            assert p.procs["redis"].poll() is None, p.log("redis")
            time.sleep(0.2)
        assert _redis("PING", url=url) == "PONG", p.log("redis")
        # Without the password, or with another: refused.
        anon = f"redis://127.0.0.1:{port}/0"
        assert _redis("SET", "k", "v", url=anon).startswith("NOAUTH"), "Redis answered without a password"
        assert _redis("PING", url=f"redis://:{secrets.token_hex(8)}@127.0.0.1:{port}/0") \
            .startswith("NOAUTH"), "Redis answered a wrong password"
        # The readiness probe, as the kubelet runs it (on this host's port), passes.
        probe = k8s.find("Deployment", "redis")["spec"]["template"]["spec"]["containers"][0]
        command = [a.replace("-p 6379", f"-p {port}") for a in probe["readinessProbe"]["exec"]["command"]]
        assert command != probe["readinessProbe"]["exec"]["command"]
        rc = p.exec("redis", command).wait(timeout=10)
        assert rc == 0, "the readiness probe failed"
        # The password is on no command line of the pod's processes, and
        # not in its log.
        for pid in [p.procs["redis"].pid] + _children(p.procs["redis"].pid):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert password.encode() not in f.read(), f"the password in pid {pid}'s command line"
        assert password not in p.log("redis")
        # An ordinary stop: SIGTERM to the container's process, redis-server itself.
        p.procs["redis"].terminate()
        assert p.procs["redis"].wait(timeout=15) == 0, p.log("redis")


def test_the_redis_pod_refuses_a_redis_url_without_a_password():
    port = int(_env("DEPLOY_REDIS_PORT"))
    with Scratch("redisnopw") as s:
        p = _redis_pod(s, f"redis://127.0.0.1:{port}/0")
        assert p.procs["redis"].wait(timeout=15) == 1
        assert "REDIS_URL in the Secret honeydue-secrets has no password" in p.log("redis"), p.log("redis")


# ---- documents in the bucket (STORAGE_BACKEND=s3) -------------------------------
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + secrets.token_bytes(96 * 1024) + b"\n%%EOF\n"


def _call(port, method, path, token=None, body=None, raw=None, headers=None):
    """(status, headers with lower-case names, body) of one request to the pod."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Token {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def _bucket_files():
    """The files holding the objects of the stack's bucket (tests/s3_server.py
    keeps each object's bytes in HD_S3_DIR/BUCKET/obj/)."""
    d = os.path.join(_env("HD_S3_DIR"), _env("S3_BUCKET"), "obj")
    return {os.path.join(d, n) for n in os.listdir(d)} if os.path.isdir(d) else set()


def test_api_pod_keeps_documents_in_the_bucket():
    """The cluster's config (STORAGE_BACKEND=s3, no volume), its bucket the
    stack's S3 server: a PDF uploaded through the pod's nginx lands in the
    bucket, and comes back byte for byte through nginx's /_s3/ location."""
    d = k8s.find("Deployment", "honeydue-api")
    cfg = pod.parse_config(k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"])
    assert cfg.get("STORAGE_BACKEND") == "s3", cfg.get("STORAGE_BACKEND")
    port = int(_env("DEPLOY_POD_PORT"))
    with Scratch("s3") as s:
        p, _ = _start_api_pod(s, d, port)
        name = f"pods3{secrets.token_hex(4)}"
        st, _, body = _call(port, "POST", "/api/auth/register/",
                            body={"username": name, "email": f"{name}@example.com",
                                  "password": f"pw-{name}-secret"})
        assert st == 201, (st, body[:300])
        tok = json.loads(body)["token"]
        st, _, body = _call(port, "POST", "/api/residences/", tok, {"name": "Home"})
        assert st == 201, (st, body[:300])
        st, _, body = _call(port, "POST", "/api/documents/", tok,
                            {"residence_id": json.loads(body)["id"], "title": "Boiler manual"})
        assert st == 201, (st, body[:300])
        doc = json.loads(body)["id"]
        before = _bucket_files()
        st, _, body = _call(port, "PUT", f"/api/documents/{doc}/file/", tok, raw=PDF,
                            headers={"Content-Type": "application/pdf"})
        assert st == 200, f"upload: {st} {body[:300]!r}\nfcgi:\n{p.log('fcgi')[-3000:]}"
        f = json.loads(body)["file"]
        assert f["size"] == len(PDF) and f["sha256"] == hashlib.sha256(PDF).hexdigest(), f
        # In the bucket, not on a disk of the pod's.
        new = _bucket_files() - before
        assert any(open(n, "rb").read() == PDF for n in new), f"no new object holds the file: {new}"
        st, h, body = _call(port, "GET", f"/api/documents/{doc}/file/", tok)
        assert st == 200, f"download: {st} {body[:300]!r}\nnginx:\n{p.log('nginx')[-3000:]}"
        assert body == PDF, (len(body), body[:40])
        assert h.get("content-type") == "application/pdf", h
        assert "x-accel-redirect" not in h and "x-amz-request-id" not in h, h
        p.stop_all()
        assert not _sanitizer_reports(p), _sanitizer_reports(p)


# ---- the client address (nginx/honeydue.conf.in, "The client address") -----
# Nothing here may leave loopback, so the test renders the pod's nginx.conf
# with loopback addresses standing for each kind of peer (the committed
# ranges are the real ones: test_manifests checks them), and connects from
# them (127.0.0.0/8 is all loopback on Linux).
POD_NET = "127.0.0.16/28"  # "the pod network": the internal locations answer it
INGRESS = "127.0.0.18"  # "the ingress" (inside the pod network, as on k3s)
CLOUDFLARE = ["127.0.0.32/28", "2001:db8::/32"]  # "Cloudflare's ranges"
CF_PEER = "127.0.0.33"


def _ask(port, method, path, source, headers=None, body=None):
    """(status, body) of one request from local address SOURCE."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def _redis(*args, db=None, url=None):
    """redis-cli against URL (the stack's Redis by default, on database DB):
    the password in REDISCLI_AUTH, never on the command line."""
    u = urllib.parse.urlsplit(url or _env("REDIS_URL"))
    db = ((u.path or "/0").lstrip("/") or "0") if db is None else str(db)
    env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    if u.password:
        env["REDISCLI_AUTH"] = urllib.parse.unquote(u.password)
    p = subprocess.run(["redis-cli", "-h", u.hostname, "-p", str(u.port or 6379), "-n", db,
                        "--raw", *args], env=env, capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def _failures(addr):
    """Failed logins the API counted against client address ADDR."""
    return int(_redis("GET", f"throttle:login:ip:{addr}") or 0)


def _fail_login(port, source, headers):
    st, body = _ask(port, "POST", "/api/auth/login/", source, headers,
                    {"username": f"ghost-{secrets.token_hex(4)}", "password": "wrong-password"})
    assert st == 401, (st, body)


def _user_addr():
    """A user's address (198.18.0.0/15, reserved for tests) no other test
    counts against."""
    return f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def test_api_pod_takes_the_client_address_only_from_whom_it_may():
    d = k8s.find("Deployment", "honeydue-api")
    rc = k8s.render_configmap()
    conf = rc.render_nginx(pod_cidrs=[POD_NET], ingress_cidrs=[INGRESS + "/32"], cloudflare=CLOUDFLARE)
    port = int(_env("DEPLOY_POD_PORT"))
    with Scratch("addr") as s:
        p, _ = _start_api_pod(s, d, port, configmap_data={("honeydue-nginx", "nginx.conf"): conf})
        other = f"127.0.1.{secrets.randbelow(254) + 1}"  # neither Cloudflare nor the ingress

        # From Cloudflare, CF-Connecting-IP is the user: the throttle counts them.
        user = _user_addr()
        _fail_login(port, CF_PEER, {"CF-Connecting-IP": user})
        assert _failures(user) == 1 and _failures(CF_PEER) == 0
        # The same header from anyone else is ignored: the peer is counted.
        user = _user_addr()
        before = _failures(other)
        _fail_login(port, other, {"CF-Connecting-IP": user})
        assert _failures(user) == 0 and _failures(other) == before + 1
        # X-Forwarded-For from the ingress: its last entry, the address the
        # ingress saw (what is left of it, anyone could have written).
        forged, user = _user_addr(), _user_addr()
        _fail_login(port, INGRESS, {"X-Forwarded-For": f"{forged}, {user}"})
        assert _failures(user) == 1 and _failures(forged) == 0 and _failures(INGRESS) == 0
        # The cluster's real chain: the ingress saw Cloudflare, Cloudflare the user.
        user = _user_addr()
        _fail_login(port, INGRESS, {"X-Forwarded-For": f"{_user_addr()}, 127.0.0.40",
                                    "CF-Connecting-IP": user})
        assert _failures(user) == 1 and _failures("127.0.0.40") == 0
        v6 = f"2001:db8:1::{secrets.randbelow(0xffff):x}"
        _fail_login(port, INGRESS, {"X-Forwarded-For": "2001:db8::5", "CF-Connecting-IP": v6})
        assert _failures(v6) == 1
        # CF-Connecting-IP through the ingress from a client that is not
        # Cloudflare (one that found the nodes' address): the client counts.
        user, client = _user_addr(), _user_addr()
        _fail_login(port, INGRESS, {"X-Forwarded-For": client, "CF-Connecting-IP": user})
        assert _failures(client) == 1 and _failures(user) == 0
        # X-Forwarded-For from a peer that is not the ingress: ignored.
        user = _user_addr()
        before = _failures(other)
        _fail_login(port, other, {"X-Forwarded-For": user})
        assert _failures(user) == 0 and _failures(other) == before + 1

        # /metrics and /api/internal/: the real peer on loopback or the pod
        # network, asking directly; no header opens them.
        for path in ("/metrics", "/api/internal/status/"):
            for source in ("127.0.0.1", "127.0.0.17"):
                st, body = _ask(port, "GET", path, source)
                assert st == 200, (path, source, st, body[:200])
            refused = [
                ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1"}),  # came through a proxy
                ("127.0.0.1", {"CF-Connecting-IP": "127.0.0.1"}),
                ("127.0.0.17", {"Forwarded": "for=127.0.0.1"}),
                ("127.0.0.17", {"X-Real-IP": "127.0.0.1"}),
                (INGRESS, {}),  # the ingress is in the pod network, yet the internet's way in
                (INGRESS, {"X-Forwarded-For": "127.0.0.1"}),
                (CF_PEER, {"CF-Connecting-IP": "127.0.0.1"}),
                (other, {"X-Forwarded-For": "127.0.0.1", "CF-Connecting-IP": "127.0.0.1"}),
                (other, {}),
            ]
            for source, headers in refused:
                st, body = _ask(port, "GET", path, source, headers)
                assert st == 403 and b'"forbidden"' in body, (path, source, headers, st, body[:200])
        p.stop_all()
        assert not _sanitizer_reports(p), _sanitizer_reports(p)


# ---- push: the key files from the Secret honeydue-push (DESIGN.md 13) ---------
# The worker's pod mounts the Secret's two keys read-only where the config
# file's APNS_KEY_FILE and FCM_CREDENTIALS_FILE point; the tests build that
# Secret from the stack's key files (tests/stack.sh: its push server on
# base + 8 checks them as Apple and Google do) by following the manifest
# from each setting to its volume's item. What only the stand-in needs is
# added to the config file as the other tests add the stack's Postgres:
# APNS_URL, FCM_URL and PUSH_CA_FILE, and the stand-in's key id, team id and
# bundle id (the committed ones are the cluster's account's, empty until set).
PUSH_REDIS_DB = 5  # not the stack's 0: its own worker would take our jobs
PUSH_FILE_SETTINGS = ("APNS_KEY_FILE", "FCM_CREDENTIALS_FILE")


def _worker_container(d):
    (c,) = k8s.pod_spec(d)["containers"]
    return c


def _push_volume(d):
    (v,) = [v for v in k8s.pod_spec(d)["volumes"] if v.get("secret", {}).get("secretName") == "honeydue-push"]
    return v


def _push_secret_files(d):
    """{Secret name: {key: bytes}}: the Secret the worker's pod mounts, made
    of the stack's key files, each under the key whose volume item lands
    where the cluster's config file says that file is."""
    cfg = pod.parse_config(k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"])
    c = _worker_container(d)
    volumes = {v["name"]: v for v in k8s.pod_spec(d)["volumes"]}
    out = {}
    for setting in PUSH_FILE_SETTINGS:
        path = cfg[setting]
        (m,) = [m for m in c["volumeMounts"] if os.path.dirname(path) == m["mountPath"].rstrip("/")]
        sv = volumes[m["name"]]["secret"]
        (key,) = [i["key"] for i in sv["items"] if i["path"] == os.path.basename(path)]
        with open(_env(setting), "rb") as f:
            out.setdefault(sv["secretName"], {})[key] = f.read()
    return out


PUSH_CA = "/tmp/push-ca.crt"  # in the worker's /tmp: _put_push_ca puts the stand-in's there


def _push_overrides():
    """The test-only settings that point the worker at the stack's push
    server, and the stand-in's ids."""
    out = {k: _env(k) for k in ("APNS_URL", "FCM_URL", "APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC")}
    out["PUSH_CA_FILE"] = PUSH_CA
    return out


def _put_push_ca(p, cname):
    """The push server's CA certificate where PUSH_CA_FILE says, in the
    container's /tmp (the stack's copy is in a 0700 directory, and a host
    path under /tmp would be taken for the container's)."""
    path = p.host_path(cname, PUSH_CA)
    shutil.copyfile(_env("PUSH_CA_FILE"), path)
    os.chmod(path, 0o644)


def _log_lines(p, cname):
    out = []
    for line in p.log(cname).splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _providers(p, cname, after=0):
    """{event: msg} of the last apns and fcm lines from the (AFTER+1)th on."""
    got = {}
    for rec in _log_lines(p, cname)[after:]:
        if rec.get("event") in ("apns", "fcm"):
            got[rec["event"]] = rec.get("msg", "")
    return got


def _wait_providers(p, cname, proc, after=0, want=None, timeout=20):
    """Wait for both providers to have said whether they are on (and, with
    WANT, {event: substring} to be what they said)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _providers(p, cname, after)
        if set(got) == {"apns", "fcm"} and all(w in got[e] for e, w in (want or {}).items()):
            return got
        assert proc.poll() is None, f"the worker exited ({proc.returncode}):\n{p.log(cname)}"
        time.sleep(0.2)
    raise AssertionError(f"the providers said {_providers(p, cname, after)}, wanted {want}:\n"
                         f"{p.log(cname)[-3000:]}")


PUSH_ON = {"apns": "pushes to iOS devices through", "fcm": "pushes to Android devices through"}
PUSH_OFF = {"apns": "no pushes to iOS devices", "fcm": "no pushes to Android devices"}


def _push_records(token):
    out = []
    for path in sorted(glob.glob(os.path.join(_env("HD_PUSH_DIR"), "sent", "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                rec = json.load(f)
        except (FileNotFoundError, ValueError):
            continue
        if rec.get("token") == token:
            out.append(rec)
    return out


def _api(port, method, path, tok=None, body=None, want=(200, 201)):
    st, _, raw = _call(port, method, path, tok, body)
    assert st in want, f"{method} {path}: {st} {raw[:300]!r}"
    return json.loads(raw) if raw else None


def test_worker_pod_delivers_pushes_with_the_push_secret():
    """The cluster's worker pod with the Secret honeydue-push mounted as the
    manifest says: a member's iPhone and Android phone get the push for the
    task another member created, through the API pod, from the stack's push
    server's point of view (signed with the Secret's keys)."""
    api = k8s.find("Deployment", "honeydue-api")
    worker = k8s.find("Deployment", "honeydue-worker")
    c = _worker_container(worker)
    port = int(_env("DEPLOY_POD_PORT"))
    with Scratch("push", redis_db=PUSH_REDIS_DB) as s:
        a, _ = _start_api_pod(s, api, port)
        w = s.pod(worker, config=_push_overrides(), secret_files=_push_secret_files(worker))
        _put_push_ca(w, c["name"])
        proc = w.start(c["name"])
        _wait_providers(w, c["name"], proc, want=PUSH_ON)

        def user(prefix):
            name = f"{prefix}{secrets.token_hex(4)}"
            r = _api(port, "POST", "/api/auth/register/",
                     body={"username": name, "email": f"{name}@example.com", "password": f"pw-{name}-secret"})
            return r["token"]

        owner, member = user("pushown"), user("pushmem")
        rid = _api(port, "POST", "/api/residences/", owner, {"name": "Elm Street"})["id"]
        code = _api(port, "POST", f"/api/residences/{rid}/share-code/", owner)["code"]
        _api(port, "POST", "/api/residences/join/", member, {"code": code}, want=(200,))
        ios, android = secrets.token_hex(32), "fcm" + secrets.token_urlsafe(60).replace("-", "_")
        for platform, token in (("ios", ios), ("android", android)):
            _api(port, "POST", "/api/devices/", member, {"platform": platform, "token": token})
        title = f"Bleed the radiators {secrets.token_hex(3)}"
        _api(port, "POST", "/api/tasks/", owner, {"residence_id": rid, "title": title})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (_push_records(ios) and _push_records(android)):
            assert proc.poll() is None, f"the worker exited ({proc.returncode}):\n{w.log(c['name'])}"
            time.sleep(0.2)
        got = {"apns": _push_records(ios), "fcm": _push_records(android)}
        assert all(got.values()), f"pushes: {got}\nworker:\n{w.log(c['name'])[-4000:]}"
        (rec,) = got["apns"]
        assert rec["provider"] == "apns" and rec["topic"] == _env("APNS_TOPIC")
        assert rec["provider_token"]["kid"] == _env("APNS_KEY_ID")  # signed with the Secret's .p8
        assert rec["payload"]["aps"]["alert"]["title"] == f"New task: {title}", rec["payload"]
        (rec,) = got["fcm"]
        assert rec["provider"] == "fcm" and rec["payload"]["message"]["token"] == android
        assert rec["payload"]["message"]["notification"]["title"] == f"New task: {title}"
        if pod.IS_ROOT:
            # The files as the kubelet left them: root's, the pod's fsGroup,
            # 0440. That group is how the worker's uid read them (without an
            # fsGroup they are root:root and it cannot); no other uid may.
            fs_group = k8s.pod_spec(worker)["securityContext"].get("fsGroup")
            cfg = pod.parse_config(k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"])
            for setting in PUSH_FILE_SETTINGS:
                path = w.host_path(c["name"], cfg[setting])
                st = os.stat(path)
                assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, fs_group, 0o440), \
                    (path, st.st_uid, st.st_gid, oct(st.st_mode))
        start = time.monotonic()
        proc.terminate()
        assert w.wait_exit(c["name"], start + k8s.pod_spec(worker)["terminationGracePeriodSeconds"]) == 0, \
            w.log(c["name"])
        a.stop_all()
        assert not _sanitizer_reports(w), _sanitizer_reports(w)
        assert not _sanitizer_reports(a), _sanitizer_reports(a)


def test_worker_pod_runs_without_the_push_secret():
    """No Secret honeydue-push (a cluster that sends no push): the optional
    volume is empty, the worker starts and runs with both providers off,
    each said in its log, and stops cleanly."""
    d = k8s.find("Deployment", "honeydue-worker")
    c = _worker_container(d)
    with Scratch("nopush") as s:
        _run_migrate_job(s)
        p = s.pod(d)  # no secret_files: no Secret but honeydue-secrets
        v = _push_volume(d)
        assert os.listdir(os.path.join(p.root, "vol", v["name"])) == []
        proc = p.start(c["name"])
        _wait_providers(p, c["name"], proc, want=PUSH_OFF)
        # An absent Secret is a choice, not a fault: one info line per provider.
        lines = [json.loads(x) for x in p.log(c["name"]).splitlines() if x.startswith("{")]
        said = [x for x in lines if x.get("event") in ("apns", "fcm")]
        assert said and all(x["level"] == "info" for x in said), said
        time.sleep(2)
        assert proc.poll() is None, f"the worker exited ({proc.returncode}):\n{p.log(c['name'])}"
        start = time.monotonic()
        proc.terminate()
        assert p.wait_exit(c["name"], start + k8s.pod_spec(d)["terminationGracePeriodSeconds"]) == 0, \
            p.log(c["name"])
        assert not _sanitizer_reports(p), _sanitizer_reports(p)


def test_worker_pod_takes_new_push_keys_on_sighup():
    """docs/deploying.md, Push: the Secret created (or its keys rotated) and
    the ids set in the config file while the worker runs. The kubelet
    updates both mounted volumes in place; SIGHUP to the worker's pid 1
    re-reads the config file and the key files: both providers come on."""
    d = k8s.find("Deployment", "honeydue-worker")
    c = _worker_container(d)
    with Scratch("pushhup", redis_db=PUSH_REDIS_DB) as s:
        _run_migrate_job(s)
        overrides = _push_overrides()
        ids = {k: overrides.pop(k) for k in ("APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC")}
        p = s.pod(d, config=overrides)  # the committed ids (empty), no Secret
        _put_push_ca(p, c["name"])
        proc = p.start(c["name"])
        _wait_providers(p, c["name"], proc, want=PUSH_OFF)
        seen = len(_log_lines(p, c["name"]))
        # kubectl create secret generic honeydue-push ...; the ids into
        # deploy/honeydue.conf and its ConfigMap applied: the kubelet's sync.
        (files,) = _push_secret_files(d).values()
        v = _push_volume(d)
        for item in v["secret"]["items"]:
            p.put_secret_file(v["name"], item["path"], files[item["key"]], item.get("mode"))
        p.config.update(ids)
        p.refresh_configmaps()
        proc.send_signal(signal.SIGHUP)
        _wait_providers(p, c["name"], proc, after=seen, want=PUSH_ON)
        start = time.monotonic()
        proc.terminate()
        assert p.wait_exit(c["name"], start + k8s.pod_spec(d)["terminationGracePeriodSeconds"]) == 0, \
            p.log(c["name"])
        assert not _sanitizer_reports(p), _sanitizer_reports(p)
