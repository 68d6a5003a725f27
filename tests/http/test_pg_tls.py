"""DB_SSLMODE=verify-full with DB_SSLROOTCERT (issue 15), for real: a
Postgres cluster of this test's own with ssl=on and a server certificate
(localhost, 127.0.0.1) that a CA made here signed, listening on 127.0.0.1
and 127.0.0.2. honeydue-migrate and the API pool connect with the right root
certificate; another CA's is refused, and so is a host name the certificate
does not name (127.0.0.2), each with libpq's reason in the log line."""
import os
import shutil
import subprocess
import tempfile

from test_process import Pool

BIN = os.environ.get("HD_BIN", "build/asan")
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
IS_ROOT = os.geteuid() == 0


def _as_postgres(argv, **kw):
    if IS_ROOT:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, cwd="/", capture_output=True, text=True, timeout=60, **kw)


def _openssl(*args):
    p = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def _ca(d, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "2", "-subj", f"/CN={name}", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.crt")


class TlsPostgres:
    """A throwaway cluster with ssl=on on PORT (the stack's base + 6)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hd-pgtls.")
        os.chmod(self.dir, 0o755)
        d = self.dir
        _ca(d, "ca")
        _ca(d, "other-ca")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", "/CN=localhost", "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr")
        with open(f"{d}/san.ext", "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        _openssl("x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{d}/san.ext", "-out", f"{d}/server.crt")
        self.port = int(os.environ["DB_PORT"]) + 5  # the stack's base + 6
        data, self.sock = f"{d}/pg", f"{d}/run"
        os.mkdir(data, 0o700)
        os.mkdir(self.sock, 0o755)
        for f in ("server.key", "server.crt"):
            os.chmod(f"{d}/{f}", 0o600)
        if IS_ROOT:
            shutil.chown(data, "postgres")
            shutil.chown(self.sock, "postgres")
            for f in ("server.key", "server.crt"):
                shutil.chown(f"{d}/{f}", "postgres")
        p = _as_postgres([f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"])
        assert p.returncode == 0, p.stdout + p.stderr
        with open(f"{data}/postgresql.conf", "a") as f:
            f.write(f"listen_addresses = '127.0.0.1,127.0.0.2'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.sock}'\nssl = on\n"
                    f"ssl_cert_file = '{d}/server.crt'\nssl_key_file = '{d}/server.key'\n")
        p = _as_postgres([f"{PG_BIN}/pg_ctl", "-D", data, "-l", f"{data}/pg.log", "-w", "-t", "60", "start"])
        assert p.returncode == 0, p.stdout + p.stderr + open(f"{data}/pg.log").read()
        self.data = data

    def env(self, host="localhost", rootcert="ca.crt", sslmode="verify-full"):
        return {"DB_HOST": host, "DB_PORT": str(self.port), "DB_NAME": "postgres",
                "DB_USER": "postgres", "DB_PASSWORD": "", "DB_SSLMODE": sslmode,
                "DB_SSLROOTCERT": os.path.join(self.dir, rootcert), "DB_WAIT_SECONDS": "1"}

    def stop(self):
        _as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


def _migrate(env, *args):
    return subprocess.run([os.path.join(BIN, "honeydue-migrate"), *args], env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=60)


def test_verify_full_checks_the_server_certificate_against_db_sslrootcert():
    pg = TlsPostgres()
    try:
        # The right CA, the certificate's name: connects (migrates, then serves).
        p = _migrate(pg.env(), "up")
        assert p.returncode == 0, p.stdout + p.stderr
        p = _migrate(pg.env(host="127.0.0.1"), "status")  # its IP is in the certificate too
        assert p.returncode == 0, p.stdout + p.stderr
        # Another CA's root certificate: refused, and said why.
        p = _migrate(pg.env(rootcert="other-ca.crt"), "status")
        assert p.returncode != 0
        assert "cannot connect to postgres" in p.stderr and "certificate verify failed" in p.stderr, p.stderr
        # A name the certificate does not carry: refused.
        p = _migrate(pg.env(host="127.0.0.2"), "status")
        assert p.returncode != 0
        assert 'does not match host name \\"127.0.0.2' in p.stderr, p.stderr  # JSON-escaped quotes
        # ... which verify-ca (the CA only) accepts: the name check is verify-full's.
        p = _migrate(pg.env(host="127.0.0.2", sslmode="verify-ca"), "status")
        assert p.returncode == 0, p.stdout + p.stderr
        # The API pool over the verified connection: ready, its session on TLS.
        pool = Pool(workers=1, **pg.env())
        try:
            status, body = pool.call("GET", "/api/ready/")
            assert status == 200 and body["postgres"] == "ok", (status, body)
            out = subprocess.run(
                ["psql", "-X", "-At", "-h", pg.sock, "-p", str(pg.port), "-U", "postgres", "-d", "postgres",
                 "-c", "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                       "WHERE s.ssl AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'"],
                capture_output=True, text=True, timeout=20)
            assert out.returncode == 0 and int(out.stdout) >= 1, out.stdout + out.stderr
        finally:
            assert pool.stop() == 0, pool.text()
    finally:
        pg.stop()
