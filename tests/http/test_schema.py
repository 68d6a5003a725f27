"""honeydue-fcgi refuses to start on a schema that is missing or behind."""
import os
import subprocess
import tempfile

from lib import psql, unique

BIN = os.environ.get("HD_BIN", "build/asan")
MIGRATIONS = os.environ.get("HONEYDUE_MIGRATIONS_DIR", "migrations")


def start_against(db):
    """Run honeydue-fcgi against DB; return (exit code or None if it kept running, stderr)."""
    sock = os.path.join(tempfile.mkdtemp(), "s.sock")
    env = dict(os.environ, DB_NAME=db, DB_WAIT_SECONDS="2", HONEYDUE_WORKERS="1")
    p = subprocess.Popen([os.path.join(BIN, "honeydue-fcgi"), "--listen", sock], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=8)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.terminate()
        out, err = p.communicate(timeout=30)
        return None, err


def fresh_db():
    name = unique("schema").lower()
    psql(f"CREATE DATABASE {name}", db="postgres")
    return name


def migrate(db, *args):
    env = dict(os.environ, DB_NAME=db)
    return subprocess.run([os.path.join(BIN, "honeydue-migrate"), "-dir", MIGRATIONS, *args],
                          env=env, capture_output=True, text=True, timeout=60)


def schema_lines(err):
    return [l for l in err.splitlines() if '"event":"schema"' in l]


def test_empty_database_refuses_to_start():
    db = fresh_db()
    try:
        code, err = start_against(db)
        assert code not in (None, 0), err
        lines = schema_lines(err)
        assert len(lines) == 1 and "goose_db_version" in lines[0], err
    finally:
        psql(f"DROP DATABASE {db}", db="postgres")


def test_schema_behind_refuses_to_start():
    db = fresh_db()
    try:
        assert migrate(db, "up").returncode == 0
        assert migrate(db, "down-to", "0").returncode == 0
        code, err = start_against(db)
        assert code not in (None, 0), err
        assert len(schema_lines(err)) == 1, err
    finally:
        psql(f"DROP DATABASE {db}", db="postgres")


def test_latest_row_not_applied_refuses_to_start():
    db = fresh_db()
    try:
        assert migrate(db, "up").returncode == 0
        # An older goose records a rollback as an is_applied = false row.
        psql("INSERT INTO goose_db_version (version_id, is_applied) VALUES (1, false)", db=db)
        code, err = start_against(db)
        assert code not in (None, 0), err
        assert len(schema_lines(err)) == 1, err
    finally:
        psql(f"DROP DATABASE {db}", db="postgres")


def test_current_schema_starts():
    db = fresh_db()
    try:
        assert migrate(db, "up").returncode == 0
        code, err = start_against(db)
        assert code is None, err  # still serving when we stopped it
        assert not schema_lines(err)
    finally:
        psql(f"DROP DATABASE {db}", db="postgres")


def test_missing_configuration_is_named():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    p = subprocess.run([os.path.join(BIN, "honeydue-fcgi"), "--listen", "/tmp/x.sock"], env=env,
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "missing required configuration: SECRET_KEY" in p.stderr


def test_the_job_worker_checks_the_schema_too():
    # honeydue-worker refuses an empty database and one a migration behind,
    # and starts on a current one.
    db = fresh_db()
    worker = os.path.join(BIN, "honeydue-worker")
    # Redis database 1: nothing of the stack's queues.
    redis_url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/1"
    env = dict(os.environ, DB_NAME=db, DB_WAIT_SECONDS="2", HONEYDUE_JOB_WORKERS="1", REDIS_URL=redis_url)
    try:
        p = subprocess.run([worker], env=env, capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and len(schema_lines(p.stderr)) == 1, p.stderr
        assert migrate(db, "up").returncode == 0
        assert migrate(db, "down").returncode == 0
        p = subprocess.run([worker], env=env, capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and len(schema_lines(p.stderr)) == 1, p.stderr
        assert migrate(db, "up").returncode == 0
        # Current: it runs until told to stop.
        w = subprocess.Popen([worker], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            w.wait(timeout=2)
            raise AssertionError(f"honeydue-worker exited on a current schema: {w.stderr.read()}")
        except subprocess.TimeoutExpired:
            pass
        w.terminate()
        assert w.wait(timeout=30) == 0
    finally:
        psql(f"DROP DATABASE {db} WITH (FORCE)", db="postgres")
