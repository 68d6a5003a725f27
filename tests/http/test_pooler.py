"""Behind a transaction-mode pooler, as in production: Debian's pgbouncer
(1.18, which cannot keep named prepared statements across server
connections) in pool_mode=transaction with one server connection shared by
every worker. With DB_PREPARED=off the pool runs the API's core flow
through it, each statement unnamed, whichever server connection it lands on."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from lib import psql, unique
from test_process import Pool
from test_schema import migrate


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bouncer:
    def __init__(self, db):
        self.dir = tempfile.mkdtemp(prefix="pgbouncer-")
        self.port = free_port()
        with open(os.path.join(self.dir, "users.txt"), "w") as f:
            f.write(f'"{os.environ["DB_USER"]}" ""\n')
        with open(os.path.join(self.dir, "pgbouncer.ini"), "w") as f:
            f.write(f"""[databases]
{db} = host={os.environ["DB_HOST"]} port={os.environ["DB_PORT"]} dbname={db}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/users.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 50
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
""")
        shutil.chown(self.dir, "postgres")
        for name in os.listdir(self.dir):
            shutil.chown(os.path.join(self.dir, name), "postgres")
        # pgbouncer refuses to run as root.
        self.p = subprocess.Popen(["runuser", "-u", "postgres", "--", "pgbouncer",
                                   os.path.join(self.dir, "pgbouncer.ini")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("pgbouncer did not start: " + self.log())

    def log(self):
        try:
            return open(os.path.join(self.dir, "pgbouncer.log")).read()
        except OSError:
            return ""

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def test_core_flow_through_pgbouncer_in_transaction_mode_with_unprepared_queries():
    # A database of its own whose default time zone is not UTC, so that the
    # API's UTC timestamps through the pooler are proven, not assumed.
    db = unique("pooled").lower()
    psql(f"CREATE DATABASE {db}", db="postgres")
    assert migrate(db, "up").returncode == 0
    psql(f"ALTER DATABASE {db} SET timezone = 'Pacific/Kiritimati'", db="postgres")
    bouncer = Bouncer(db)
    pool = None
    try:
        pool = Pool(workers=2, DB_NAME=db, DB_PORT=str(bouncer.port), DB_PREPARED="off")
        name = unique("bouncer")
        st, reg = pool.call("POST", "/api/auth/register/",
                            {"username": name, "email": f"{name}@example.com", "password": "long-password"})
        assert st == 201, (reg, bouncer.log())
        tok = reg["token"]
        assert reg["user"]["date_joined"].endswith("+00:00"), reg  # UTC through the pooler too
        st, res = pool.call("POST", "/api/residences/", {"name": "Pooled house"}, token=tok)
        assert st == 201, res
        ids = []
        for n in range(10):  # both workers, one shared server connection
            st, task = pool.call("POST", "/api/tasks/", {"residence_id": res["id"], "title": f"pooled {n}",
                                                         "frequency": "monthly", "due_date": "2026-01-31"},
                                 token=tok)
            assert st == 201, task
            ids.append(task["id"])
        st, done = pool.call("POST", f"/api/tasks/{ids[0]}/complete/", {}, token=tok)
        assert st == 201 and done["task"]["due_date"] == "2026-02-28", done
        for _ in range(10):
            st, lst = pool.call("GET", "/api/tasks/", token=tok)
            assert st == 200 and lst["count"] == 10, lst
        assert pool.call("GET", "/api/ready/")[0] == 200
        assert "prepared statement" not in pool.text()
    finally:
        if pool is not None:
            assert pool.stop() == 0
        bouncer.stop()
        psql(f"DROP DATABASE {db} WITH (FORCE)", db="postgres")
