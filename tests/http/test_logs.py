"""Operator features of the log and the processes: LOG_FILE (every process
of honeydue-fcgi and honeydue-worker appends to it; SIGUSR1 reopens it after
logrotate moved it), --pidfile (written at start, removed on a clean exit,
a second start refused) and the request id on every line a request causes.
Each test starts its own pool or job worker (see test_process.Pool), so the
shared stack is never disturbed."""
import json
import os
import signal
import stat
import subprocess
import tempfile
import time

from lib import register_user, request, unique
from test_process import BIN, Pool, fcgi_call

FCGI = os.path.join(BIN, "honeydue-fcgi")
WORKER = os.path.join(BIN, "honeydue-worker")


def wait_for(fn, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def lines(path):
    """The JSON log lines of PATH (every line must be one whole object)."""
    return [json.loads(line) for line in read(path).splitlines()]


def pid_in(path):
    text = read(path).strip()
    return int(text) if text else None


def test_log_file_gets_every_process_and_sigusr1_reopens_it_after_a_move():
    d = tempfile.mkdtemp()
    log, pidfile = os.path.join(d, "api.log"), os.path.join(d, "api.pid")
    pool = Pool(workers=2, args=["--pidfile", pidfile], LOG_FILE=log)
    try:
        assert pid_in(pidfile) == pool.p.pid
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o640
        for i in range(3):
            assert pool.call_full("GET", "/api/health/", request_id=f"before-{i}")[0] == 200
        wait_for(lambda: read(log).count('"event":"request"') == 3, what="three request lines")
        before = lines(log)
        pids = {line["pid"] for line in before}
        assert pids == {pool.p.pid, *pool.workers()}, (pids, pool.p.pid, pool.workers())
        assert '"event"' not in read(pool.log.name)  # nothing went to stderr

        # logrotate: move, then signal the master named by the pidfile.
        os.rename(log, log + ".1")
        os.kill(pid_in(pidfile), signal.SIGUSR1)
        wait_for(lambda: read(log).count('"msg":"log file reopened"') == 3,
                 what="the master and both workers reopening")
        moved = read(log + ".1")
        for i in range(4):
            status, headers, _ = pool.call_full("GET", "/api/health/", request_id=f"after-{i}")
            assert status == 200 and headers["X-Request-ID"] == f"after-{i}"
        wait_for(lambda: read(log).count('"event":"request"') == 4, what="four request lines")
        assert sorted(line["request_id"] for line in lines(log) if line["event"] == "request") == \
            [f"after-{i}" for i in range(4)]
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o640
    finally:
        assert pool.stop() == 0
    assert not os.path.exists(pidfile)
    assert '"msg":"stopped"' in read(log)
    assert read(log + ".1") == moved  # nothing more after the reopen
    assert "after-" not in moved and "before-2" in moved


def test_pidfile_refuses_a_second_start_and_replaces_a_stale_one():
    d = tempfile.mkdtemp()
    pidfile = os.path.join(d, "api.pid")
    gone = subprocess.Popen(["true"])
    gone.wait()
    with open(pidfile, "w") as f:
        f.write(f"{gone.pid}\n")  # stale: that process has exited
    pool = Pool(workers=1, args=["--pidfile", pidfile])
    try:
        assert pid_in(pidfile) == pool.p.pid
        other = os.path.join(d, "second.sock")
        second = subprocess.run([FCGI, "--listen", other, "--pidfile", pidfile],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1, second.stderr
        assert f"already running as pid {pool.p.pid}" in second.stderr, second.stderr
        assert not os.path.exists(other)
        assert pid_in(pidfile) == pool.p.pid
        assert pool.call("GET", "/api/health/") == (200, {"status": "ok"})
    finally:
        assert pool.stop() == 0
    assert not os.path.exists(pidfile)
    assert not [f for f in os.listdir(d) if ".tmp." in f]


def test_no_master_mode_writes_and_removes_its_pidfile():
    d = tempfile.mkdtemp()
    sock, pidfile = os.path.join(d, "fcgi.sock"), os.path.join(d, "one.pid")
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")  # alive, but not honeydue-fcgi: not ours to respect
    err = open(os.path.join(d, "stderr"), "w+")
    p = subprocess.Popen([FCGI, "--listen", sock, "--no-master", "--pidfile", pidfile],
                         stdout=err, stderr=err)
    try:
        wait_for(lambda: pid_in(pidfile) == p.pid, what="the pidfile")
        wait_for(lambda: '"msg":"ready"' in read(err.name), what="the worker")
        assert fcgi_call(sock, "GET", "/api/health/")[0] == 200
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0, read(err.name)
    assert not os.path.exists(pidfile)


def test_log_lines_a_request_causes_carry_its_request_id():
    _, tok, _ = register_user("logid")
    d = tempfile.mkdtemp()
    log = os.path.join(d, "api.log")
    # Redis unreachable: the first request that needs it logs a warning.
    pool = Pool(workers=1, LOG_FILE=log, REDIS_URL="redis://127.0.0.1:1/0")
    rid = unique("rid")
    try:
        status, headers, body = pool.call_full("GET", "/api/tasks/", token=tok, request_id=rid)
        assert status == 200 and body["count"] == 0, body
        assert headers["X-Request-ID"] == rid
        wait_for(lambda: rid in read(log), what="the request's lines")
    finally:
        assert pool.stop() == 0
    all_lines = lines(log)
    warned = [line for line in all_lines if line["event"] == "cache" and line["level"] == "warn"]
    assert warned, all_lines
    assert all(line.get("request_id") == rid for line in warned), warned
    assert [line["request_id"] for line in all_lines if line["event"] == "request"] == [rid]
    # Before and after the request, no request id.
    ready = [line for line in all_lines if line.get("msg") == "ready"]
    exiting = [line for line in all_lines if line.get("msg", "").startswith("exiting after")]
    assert ready and exiting, all_lines
    assert all("request_id" not in line for line in ready + exiting), ready + exiting


def test_job_worker_pidfile_log_file_and_sigusr1_reopen():
    d = tempfile.mkdtemp()
    log, pidfile = os.path.join(d, "worker.log"), os.path.join(d, "worker.pid")
    env = dict(os.environ, LOG_FILE=log, HONEYDUE_JOB_WORKERS="1", HONEYDUE_SHUTDOWN_TIMEOUT="20")
    err = open(os.path.join(d, "stderr"), "w+")
    p = subprocess.Popen([WORKER, "--pidfile", pidfile], env=env, stdout=err, stderr=err,
                         start_new_session=True)
    try:
        wait_for(lambda: pid_in(pidfile) == p.pid, what="the pidfile")
        wait_for(lambda: "job worker ready" in read(log), what="the job process")
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o640
        assert '"event"' not in read(err.name)
        second = subprocess.run([WORKER, "--pidfile", pidfile], env=env, capture_output=True,
                                text=True, timeout=30)
        assert second.returncode == 1 and f"already running as pid {p.pid}" in second.stderr, \
            second.stderr

        os.rename(log, log + ".1")
        os.kill(pid_in(pidfile), signal.SIGUSR1)
        wait_for(lambda: read(log).count('"msg":"log file reopened"') == 2,
                 what="the supervisor and its process reopening")
        assert {line["pid"] for line in lines(log)} == {p.pid, *[line["pid"] for line in lines(log + ".1")
                                                                 if "job worker ready" in line["msg"]]}
        moved = read(log + ".1")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0, read(err.name)
    assert not os.path.exists(pidfile)
    assert "job worker stopping" in read(log)
    assert read(log + ".1") == moved


def test_a_request_line_names_the_client_address_nginx_worked_out():
    """The address the throttles count (REMOTE_ADDR, from nginx's view of
    the client; behind Cloudflare and the ingress, the user's) is on the
    request's log line, so an operator can see who sent what."""
    r = request("GET", "/api/health/")
    rid = r.headers["X-Request-ID"]
    log = os.path.join(os.environ["HD_STATE"], "log", "fcgi.log")
    wait_for(lambda: rid in read(log), what="the request's line")
    mine = [json.loads(text) for text in read(log).splitlines() if rid in text and text.startswith("{")]
    mine = [line for line in mine if line["event"] == "request"]
    assert len(mine) == 1 and mine[0]["addr"] == "127.0.0.1", mine
