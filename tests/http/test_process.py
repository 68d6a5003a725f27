"""The process master: graceful SIGTERM with a request in flight, an idle
pool that stops at once, a killed worker replaced, SIGHUP replacing every
worker without refusing a request. Each test starts its own pool on a
private socket (--listen) and speaks FastCGI to it with cgi-fcgi, so the
shared stack is never disturbed."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

from lib import register_user, request, psql, unique

BIN = os.environ.get("HD_BIN", "build/asan")


def fcgi_call(sock, method, path, body=None, token=None, request_id="test"):
    """One FastCGI request to SOCK with cgi-fcgi; returns (status,
    {header: value}, parsed JSON body or None)."""
    data = json.dumps(body) if body is not None else ""
    env = {"REQUEST_METHOD": method, "DOCUMENT_URI": path, "QUERY_STRING": "",
           "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(data)),
           "REQUEST_ID": request_id, "PATH": os.environ["PATH"]}
    if token:
        env["HTTP_AUTHORIZATION"] = f"Token {token}"
    p = subprocess.run(["cgi-fcgi", "-bind", "-connect", sock], input=data, env=env,
                       capture_output=True, text=True, timeout=30)
    head, _, payload = p.stdout.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split()[1]) if head.startswith("Status:") else 0
    headers = dict(line.split(": ", 1) for line in head.split("\n") if ": " in line)
    return status, headers, (json.loads(payload) if payload.strip() else None)


class Pool:
    """A private pool; ARGS are extra arguments (--pidfile PATH). With
    LOG_FILE in EXTRA_ENV, text() reads that file instead of stderr."""

    def __init__(self, workers=2, args=(), **extra_env):
        self.dir = tempfile.mkdtemp()
        self.sock = os.path.join(self.dir, "fcgi.sock")
        self.log = open(os.path.join(self.dir, "fcgi.log"), "w+")
        self.log_file = extra_env.get("LOG_FILE")
        env = dict(os.environ, HONEYDUE_WORKERS=str(workers), HONEYDUE_SHUTDOWN_TIMEOUT="20", **extra_env)
        self.p = subprocess.Popen([os.path.join(BIN, "honeydue-fcgi"), "--listen", self.sock, *args],
                                  env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline and len(self.workers()) < workers:
            time.sleep(0.1)
        assert len(self.workers()) == workers, self.text()
        deadline = time.time() + 20
        while time.time() < deadline and self.text().count('"msg":"ready"') < workers:
            time.sleep(0.1)

    def workers(self):
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.p.pid)], capture_output=True, text=True).stdout
        return sorted(int(x) for x in out.split())

    def text(self):
        self.log.flush()
        try:
            with open(self.log_file or self.log.name) as f:
                return f.read()
        except FileNotFoundError:  # LOG_FILE moved away and not yet reopened
            return ""

    def call(self, method, path, body=None, token=None):
        """One FastCGI request; returns (status, parsed JSON body or None)."""
        status, _, payload = self.call_full(method, path, body, token)
        return status, payload

    def call_full(self, method, path, body=None, token=None, request_id="test"):
        """One FastCGI request; returns (status, {header: value}, parsed JSON body or None)."""
        return fcgi_call(self.sock, method, path, body, token, request_id)

    def stop(self, sig=signal.SIGTERM, timeout=25):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.p.wait(timeout=timeout)


def test_idle_pool_stops_within_a_second_on_sigterm():
    pool = Pool(workers=3)
    t0 = time.time()
    assert pool.stop() == 0
    assert time.time() - t0 < 1.5, pool.text()
    assert '"msg":"stopped"' in pool.text()


def stop_with_a_request_in_flight(sig, title):
    """A one-worker pool whose worker is mid-request (its INSERT waits on a
    table lock held 1.5 s) receives SIG. Returns (the FastCGI response text,
    seconds from the signal to the pool's exit, the pool's exit status,
    the residence id)."""
    _, tok, _ = register_user("inflight")
    rid = request("POST", "/api/residences/", {"name": "Lock house"}, token=tok).json["id"]
    pool = Pool(workers=1)
    locker = subprocess.Popen(
        ["psql", "-X", "-q", "-h", os.environ["DB_HOST"], "-p", os.environ["DB_PORT"], "-U",
         os.environ["DB_USER"], "-d", os.environ["DB_NAME"], "-c",
         "BEGIN; LOCK TABLE task_task IN EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    data = json.dumps({"residence_id": rid, "title": title})
    client = subprocess.Popen(
        ["cgi-fcgi", "-bind", "-connect", pool.sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env={"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/tasks/", "QUERY_STRING": "",
                        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(data)),
                        "HTTP_AUTHORIZATION": f"Token {tok}", "PATH": os.environ["PATH"]})
    client.stdin.write(data)
    client.stdin.close()
    time.sleep(0.4)  # the worker now waits on the lock
    t0 = time.time()
    pool.p.send_signal(sig)
    code = pool.p.wait(timeout=20)
    elapsed = time.time() - t0
    out = client.stdout.read()
    client.wait(timeout=10)
    locker.wait(timeout=10)
    return out, elapsed, code, rid


def test_sigterm_lets_the_request_in_flight_finish():
    out, elapsed, code, rid = stop_with_a_request_in_flight(signal.SIGTERM, "finished after SIGTERM")
    assert code == 0
    assert out.startswith("Status: 201"), out[:300]
    assert elapsed >= 0.5  # it waited for the request, not killed it
    assert psql(f"SELECT count(*) FROM task_task WHERE residence_id = {rid} "
                "AND title = 'finished after SIGTERM'") == "1"


def test_sigquit_is_graceful_too():
    out, elapsed, code, rid = stop_with_a_request_in_flight(signal.SIGQUIT, "finished after SIGQUIT")
    assert code == 0 and out.startswith("Status: 201"), out[:300]
    assert elapsed >= 0.5
    assert psql(f"SELECT count(*) FROM task_task WHERE residence_id = {rid} "
                "AND title = 'finished after SIGQUIT'") == "1"


def test_sigint_stops_at_once_without_waiting_for_the_request():
    out, elapsed, _, _ = stop_with_a_request_in_flight(signal.SIGINT, "cut by SIGINT")
    assert elapsed < 0.8, elapsed  # the lock is held 1.5 s: it did not wait
    assert not out.startswith("Status: 201"), out[:300]


def test_sigttin_adds_a_worker_and_sigttou_removes_one():
    pool = Pool(workers=2)
    try:
        def wait_for(n):
            deadline = time.time() + 10
            while time.time() < deadline and len(pool.workers()) != n:
                time.sleep(0.1)
            return pool.workers()
        first = pool.workers()
        pool.p.send_signal(signal.SIGTTIN)
        three = wait_for(3)
        assert len(three) == 3 and set(first) <= set(three), (first, three)
        assert pool.call("GET", "/api/internal/status/")[1]["pool"]["workers_wanted"] == 3
        for _ in range(2):
            pool.p.send_signal(signal.SIGTTOU)
            time.sleep(0.3)
        one = wait_for(1)
        assert len(one) == 1, one
        status = pool.call("GET", "/api/internal/status/")[1]["pool"]
        assert status["workers_wanted"] == 1 and status["workers"] == 1, status
        pool.p.send_signal(signal.SIGTTOU)  # never below one worker
        time.sleep(0.5)
        assert len(pool.workers()) == 1
        assert pool.call("GET", "/api/health/")[0] == 200
    finally:
        assert pool.stop() == 0


def test_max_requests_recycles_each_worker_after_its_quota():
    pool = Pool(workers=1, HONEYDUE_MAX_REQUESTS="3")
    try:
        seen = set()
        for _ in range(9):
            deadline = time.time() + 10
            while time.time() < deadline and not pool.workers():
                time.sleep(0.05)
            seen.update(pool.workers())
            assert pool.call("GET", "/api/health/")[0] == 200
        assert len(seen) >= 3, seen  # 9 requests, 3 per worker
        assert pool.text().count("exiting after 3 requests") >= 2, pool.text()
        deadline = time.time() + 10
        while time.time() < deadline and not pool.workers():
            time.sleep(0.05)
        status = pool.call("GET", "/api/internal/status/")[1]["pool"]
        assert status["recycled"] >= 3 and status["restarts"] == 0, status
    finally:
        assert pool.stop() == 0


def forward(listen_port, to_host, to_port):
    """A TCP forwarder on 127.0.0.1:LISTEN_PORT to TO_HOST:TO_PORT, in daemon
    threads: Postgres "coming up" at that address. Returns the server socket."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(64)

    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            u = socket.create_connection((to_host, to_port))
            threading.Thread(target=pump, args=(c, u), daemon=True).start()
            threading.Thread(target=pump, args=(u, c), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return srv


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_pool_started_before_postgres_waits_for_it_then_serves():
    """Postgres is not there at start (as when a pod starts before its
    database): the master waits without forking (no crash loop, nothing
    ready), then serves once Postgres appears."""
    port = free_port()
    d = tempfile.mkdtemp()
    sock = os.path.join(d, "fcgi.sock")
    log = open(os.path.join(d, "fcgi.log"), "w+")
    env = dict(os.environ, DB_PORT=str(port), DB_WAIT_SECONDS="30", DB_CONNECT_TIMEOUT="1",
               HONEYDUE_WORKERS="2")
    p = subprocess.Popen([os.path.join(BIN, "honeydue-fcgi"), "--listen", sock], env=env,
                         stdout=log, stderr=log)
    srv = None
    try:
        time.sleep(2.5)
        assert p.poll() is None  # still waiting, not given up
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)],
                                  capture_output=True, text=True).stdout.split()
        assert children == [] and not os.path.exists(sock)  # nothing forked, nothing to route to
        srv = forward(port, os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
        deadline = time.time() + 15
        status = 0
        while time.time() < deadline:
            if os.path.exists(sock):
                status, _ = fcgi_call(sock, "GET", "/api/ready/")[:2]
                if status == 200:
                    break
            time.sleep(0.2)
        assert status == 200, open(log.name).read()
        assert fcgi_call(sock, "GET", "/api/health/")[0] == 200
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=25) == 0
        if srv is not None:
            srv.close()


def test_killed_worker_is_replaced_and_service_continues():
    pool = Pool(workers=2)
    try:
        before = pool.workers()
        os.kill(before[0], signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline:
            now = pool.workers()
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.1)
        now = pool.workers()
        assert len(now) == 2 and before[0] not in now and before[1] in now, (before, now)
        assert "killed by signal 9" in pool.text()
        for _ in range(4):
            assert pool.call("GET", "/api/health/") == (200, {"status": "ok"})
    finally:
        assert pool.stop() == 0


def test_sighup_replaces_every_worker_without_refusing_requests():
    pool = Pool(workers=2)
    try:
        before = set(pool.workers())
        pool.p.send_signal(signal.SIGHUP)
        statuses = []
        deadline = time.time() + 10
        while time.time() < deadline:
            statuses.append(pool.call("GET", "/api/health/")[0])
            now = set(pool.workers())
            if len(now) == 2 and not (now & before):
                break
        assert len(now) == 2 and not (now & before), (before, now)
        assert statuses and all(s == 200 for s in statuses), statuses
        assert "reloaded" in pool.text()
    finally:
        assert pool.stop() == 0


def test_sighup_rereads_the_config_file_and_a_broken_one_changes_nothing():
    d = tempfile.mkdtemp()
    conf = os.path.join(d, "honeydue.conf")
    with open(conf, "w") as f:
        f.write("# the pod's ConfigMap\nHONEYDUE_WORKERS = 1\nHONEYDUE_WORKRES=9\n")
    pool = Pool(workers=1, HONEYDUE_CONFIG=conf)
    try:
        assert "unknown key HONEYDUE_WORKRES" in pool.text()  # a typo is named, not silently dropped
        first = pool.workers()
        with open(conf, "w") as f:
            f.write("HONEYDUE_WORKERS='3'\n")
        pool.p.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and (len(pool.workers()) != 3 or set(first) & set(pool.workers())):
            time.sleep(0.1)
        three = pool.workers()
        assert len(three) == 3 and not set(first) & set(three), (first, three)
        # A file that cannot be read as KEY=value lines aborts the reload: the
        # pool keeps its workers and its configuration.
        with open(conf, "w") as f:
            f.write("HONEYDUE_WORKERS=1\nHONEYDUE_MAX_REQUESTS=1\nthis line is not a setting\n")
        pool.p.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert "reload aborted" in pool.text()
        assert pool.workers() == three
        assert pool.call("GET", "/api/internal/status/")[1]["pool"]["workers_wanted"] == 3
        # Nor did the lines read before the bad one leak into the master: a
        # worker forked now still has no request limit.
        os.kill(three[0], signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline and (len(pool.workers()) != 3 or three[0] in pool.workers()):
            time.sleep(0.1)
        for _ in range(9):
            assert pool.call("GET", "/api/health/")[0] == 200
        assert "exiting after 1 requests" not in pool.text(), pool.text()
    finally:
        assert pool.stop() == 0


def test_unprepared_mode_serves_the_same_api():
    """DB_PREPARED=off (for transaction-mode poolers) runs the same named
    queries unprepared; the core flow must behave the same."""
    pool = Pool(workers=1, DB_PREPARED="off")
    try:
        name = unique("unprep")
        st, reg = pool.call("POST", "/api/auth/register/",
                            {"username": name, "email": f"{name}@example.com", "password": "long-password"})
        assert st == 201, reg
        tok = reg["token"]
        st, res = pool.call("POST", "/api/residences/", {"name": "Pooler house"}, token=tok)
        assert st == 201, res
        st, task = pool.call("POST", "/api/tasks/", {"residence_id": res["id"], "title": "via pooler",
                                                     "frequency": "monthly", "due_date": "2026-01-31"}, token=tok)
        assert st == 201, task
        st, done = pool.call("POST", f"/api/tasks/{task['id']}/complete/", {}, token=tok)
        assert st == 201 and done["task"]["due_date"] == "2026-02-28", done
        st, lst = pool.call("GET", "/api/tasks/", token=tok)
        assert st == 200 and lst["count"] == 1
        assert pool.call("GET", f"/api/tasks/{task['id'] + 10**9}/", token=tok)[0] == 404
    finally:
        assert pool.stop() == 0


def test_spawn_fcgi_plain_workers_each_handle_their_own_signals():
    # spawn-fcgi -F N: no master; each process takes its own SIGHUP/SIGTERM,
    # ending gracefully (nothing respawns them: that is spawn-fcgi's model).
    import re
    d = tempfile.mkdtemp()
    sock = os.path.join(d, "plain.sock")
    p = subprocess.run(["spawn-fcgi", "-F", "2", "-s", sock, "--", os.path.join(BIN, "honeydue-fcgi"),
                        "--no-master"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    pids = [int(x) for x in re.findall(r"PID: (\d+)", p.stdout + p.stderr)]
    assert len(pids) == 2, p.stdout + p.stderr

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split()[2] != "Z"
        except OSError:
            return False

    def health():
        env = {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/api/health/", "QUERY_STRING": "",
               "PATH": os.environ["PATH"]}
        out = subprocess.run(["cgi-fcgi", "-bind", "-connect", sock], env=env, capture_output=True,
                             text=True, timeout=30).stdout
        return out.startswith("Status: 200")

    try:
        deadline = time.time() + 20
        while time.time() < deadline and not health():
            time.sleep(0.1)
        assert health()
        os.kill(pids[0], signal.SIGHUP)
        t0 = time.time()
        while time.time() - t0 < 3 and alive(pids[0]):
            time.sleep(0.05)
        assert not alive(pids[0]) and alive(pids[1])
        for _ in range(5):
            assert health()  # the other one still serves
        os.kill(pids[1], signal.SIGTERM)
        t0 = time.time()
        while time.time() - t0 < 3 and alive(pids[1]):
            time.sleep(0.05)
        assert not alive(pids[1]) and time.time() - t0 < 1.5
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def fcgi_record(kind, body=b"", request_id=1):
    return bytes([1, kind, request_id >> 8, request_id & 255, len(body) >> 8, len(body) & 255, 0, 0]) + body


def fcgi_request_bytes(params):
    """A whole FastCGI responder request with an empty body, as nginx sends it."""
    def length(n):
        return bytes([n]) if n < 128 else (n | 0x80000000).to_bytes(4, "big")
    pairs = b"".join(length(len(k)) + length(len(v)) + k + v
                     for k, v in ((k.encode(), v.encode()) for k, v in params.items()))
    return (fcgi_record(1, bytes([0, 1, 0, 0, 0, 0, 0, 0])) + fcgi_record(4, pairs) + fcgi_record(4)
            + fcgi_record(5))


def fcgi_read_stdout(conn):
    """The FCGI_STDOUT bytes of the answer, up to FCGI_END_REQUEST (b"" if
    the connection closed first)."""
    buf, out = b"", b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        buf += chunk
        while len(buf) >= 8:
            n, pad = (buf[4] << 8) | buf[5], buf[6]
            if len(buf) < 8 + n + pad:
                break
            kind, body, buf = buf[1], buf[8:8 + n], buf[8 + n + pad:]
            if kind == 6:
                out += body
            elif kind == 3:
                return out


def test_a_connection_accepted_just_before_a_reload_is_answered():
    """A worker that has accepted a connection but not yet read the request
    (libfcgi waits up to 2 s for the first bytes of an AF_UNIX connection)
    is told to finish by a reload: it must still answer that request, not
    close the connection (which nginx reports as a 502)."""
    pool = Pool(workers=1)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = pool.workers()
        conn.connect(pool.sock)
        time.sleep(0.3)  # the worker has accepted it and waits for the request
        pool.p.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and "reloaded" not in pool.text():
            time.sleep(0.02)
        time.sleep(0.2)  # the old worker has its SIGTERM
        conn.sendall(fcgi_request_bytes({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/api/health/",
                                         "QUERY_STRING": "", "REQUEST_ID": "held"}))
        out = fcgi_read_stdout(conn)
        assert out.startswith(b"Status: 200"), (out, pool.text())
        deadline = time.time() + 10
        while time.time() < deadline and set(pool.workers()) & set(old):
            time.sleep(0.05)
        assert not set(pool.workers()) & set(old)  # and then it went
    finally:
        conn.close()
        assert pool.stop() == 0


def test_a_content_length_that_is_not_digits_is_400_on_the_socket():
    """nginx refuses a bad Content-Length before it reaches the pool; the
    pool does not trust that either: a negative one once became a huge
    size_t in the upload handler's read of a 512-byte head."""
    user, tok, _ = register_user("cl")
    pool = Pool(workers=1)
    try:
        for bad in ("-1", "+5", "5x", "99999999999999999999"):
            env = {"REQUEST_METHOD": "PUT", "DOCUMENT_URI": "/api/documents/1/file/", "QUERY_STRING": "",
                   "CONTENT_TYPE": "application/pdf", "CONTENT_LENGTH": bad, "REQUEST_ID": "cl",
                   "HTTP_AUTHORIZATION": f"Token {tok}", "PATH": os.environ["PATH"]}
            p = subprocess.run(["cgi-fcgi", "-bind", "-connect", pool.sock], input="%PDF-1.4\n", env=env,
                               capture_output=True, text=True, timeout=30)
            head, _, payload = p.stdout.replace("\r\n", "\n").partition("\n\n")
            assert head.startswith("Status: 400"), (bad, p.stdout[:300], p.stderr[:300])
            assert json.loads(payload)["error"]["code"] == "bad_request", (bad, payload)
        assert fcgi_call(pool.sock, "GET", "/api/health/")[0] == 200
    finally:
        pool.stop()
