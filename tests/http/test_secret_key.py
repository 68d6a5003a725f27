"""SECRET_KEY must carry 32 bytes of entropy (issue 15): honeydue-fcgi
refuses to start with the example's placeholder, a short key or a visibly
low-entropy one, says why in one line that never holds the key, and starts
with the stack's own (random, per state directory)."""
import os
import signal
import subprocess
import tempfile
import urllib.request

BIN = os.environ.get("HD_BIN", "build/asan")


def _start(secret_key, sock, worker=False):
    """honeydue-fcgi (or honeydue-worker) with SECRET_KEY: the
    CompletedProcess once it exits; a pool that starts instead is stopped
    (its whole session) after 10 s."""
    env = dict(os.environ, SECRET_KEY=secret_key, HONEYDUE_WORKERS="1", HONEYDUE_JOB_WORKERS="1")
    argv = [os.path.join(BIN, "honeydue-worker")] if worker else \
        [os.path.join(BIN, "honeydue-fcgi"), "--listen", sock]
    p = subprocess.Popen(argv, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def test_the_api_and_the_worker_refuse_to_start_with_a_weak_secret_key():
    cases = {
        "CHANGE_ME_64_HEX_CHARACTERS": "the example's placeholder",
        "0f3a9c" * 8: "too short",  # 48 hex digits: 24 bytes
        "x" * 80: "repeats too few characters",
        "s3cr3t-k3y-s3cr3t-k3y-s3cr3t-k3y-s3cr3t-k3y-s3cr3t": "repeats too few characters",
    }
    sock = os.path.join(tempfile.mkdtemp(), "fcgi.sock")
    for (key, why), worker in [(c, w) for c in cases.items() for w in (False, True)]:
        p = _start(key, sock, worker)
        assert p.returncode == 1, f"{key!r}: started\n{p.stderr}"
        assert f"SECRET_KEY is {why}" in p.stderr or f"SECRET_KEY {why}" in p.stderr, p.stderr
        assert "openssl rand -hex 32" in p.stderr
        assert key not in p.stderr and key[:12] not in p.stderr, p.stderr
        assert '"msg":"ready"' not in p.stderr


def test_the_stacks_secret_key_is_random_and_accepted():
    key = os.environ["SECRET_KEY"]
    with open(os.path.join(os.environ["HD_STATE"], "secret_key")) as f:
        assert f.read().strip() == key
    assert os.stat(os.path.join(os.environ["HD_STATE"], "secret_key")).st_mode & 0o777 == 0o600
    assert len(key) == 64 and len(set(key)) >= 10
    # The running pool started with it (this suite's requests go through it).
    with urllib.request.urlopen(os.environ["API_URL"] + "/api/health/", timeout=5) as r:
        assert r.status == 200
