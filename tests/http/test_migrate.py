"""honeydue-migrate against real databases: goose-exact bookkeeping, every
command, transactional failure, NO TRANSACTION, and the repository's own
migrations up, all the way down, and up again."""
import os
import subprocess
import tempfile

from lib import psql, unique, REPO

BIN = os.environ.get("HD_BIN", "build/asan")


def migrate(db, mdir, *args):
    env = dict(os.environ, DB_NAME=db)
    return subprocess.run([os.path.join(BIN, "honeydue-migrate"), "-dir", mdir, *args],
                          env=env, capture_output=True, text=True, timeout=60)


class Scratch:
    """A throwaway database and migrations directory."""

    def __init__(self, files):
        self.db = unique("mig")
        psql(f"CREATE DATABASE {self.db}", db="postgres")
        self.dir = tempfile.mkdtemp()
        for name, text in files.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

    def run(self, *args):
        return migrate(self.db, self.dir, *args)

    def sql(self, q):
        return psql(q, db=self.db)

    def rows(self):
        return self.sql("SELECT version_id || ':' || is_applied FROM goose_db_version ORDER BY id").split("\n")

    def close(self):
        psql(f"DROP DATABASE {self.db}", db="postgres")


FILES = {
    "000001_a.sql": "-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLE a;\n",
    "000002_b.sql": "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\n"
                    "BEGIN RETURN 1; END;\n$$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n"
                    "-- +goose Down\nDROP FUNCTION f();\n",
    "000003_c.sql": "-- +goose Up\nCREATE TABLE c (v text DEFAULT 'x;y');\nINSERT INTO c VALUES ('a;b');\n"
                    "-- +goose Down\nDROP TABLE c;\n",
    "notes.txt": "not a migration",
}


def test_up_records_rows_exactly_as_goose():
    s = Scratch(FILES)
    try:
        r = s.run("up")
        assert r.returncode == 0, r.stderr
        assert s.rows() == ["0:true", "1:true", "2:true", "3:true"]
        assert s.sql("SELECT f()") == "1" and s.sql("SELECT v FROM c") == "a;b"
        cols = s.sql("SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) "
                     "FROM information_schema.columns WHERE table_name = 'goose_db_version'")
        assert cols == "id integer, version_id bigint, is_applied boolean, tstamp timestamp without time zone"
        assert s.run("up").returncode == 0  # nothing to do is success
        assert s.rows() == ["0:true", "1:true", "2:true", "3:true"]
        v = s.run("version")
        assert v.returncode == 0 and v.stdout.strip() == "goose: version 3"
    finally:
        s.close()


def test_status_down_up_to_down_to_redo_reset():
    s = Scratch(FILES)
    try:
        assert s.run("up-to", "2").returncode == 0
        st = s.run("status").stdout
        assert "Pending" in st and "000003_c.sql" in st and st.count("Pending") == 1
        assert s.run("up-by-one").returncode == 0
        assert s.rows()[-1] == "3:true"
        assert s.run("down").returncode == 0
        assert s.rows() == ["0:true", "1:true", "2:true"]
        assert s.sql("SELECT to_regclass('c') IS NULL") == "t"
        row_before = s.sql("SELECT id FROM goose_db_version WHERE version_id = 2")
        assert s.run("redo").returncode == 0
        assert s.rows() == ["0:true", "1:true", "2:true"]
        # 2 was rolled back and applied again: a new row, not the old one
        assert int(s.sql("SELECT id FROM goose_db_version WHERE version_id = 2")) > int(row_before)
        assert s.run("down-to", "1").returncode == 0
        assert s.rows() == ["0:true", "1:true"]
        assert s.run("reset").returncode == 0
        assert s.rows() == ["0:true"]
        assert s.sql("SELECT to_regclass('a') IS NULL") == "t"
    finally:
        s.close()


def test_failing_migration_leaves_nothing_behind():
    files = dict(FILES)
    files["000004_bad.sql"] = "-- +goose Up\nCREATE TABLE d (id int);\nSELECT * FROM no_such_table;\n-- +goose Down\nDROP TABLE d;\n"
    s = Scratch(files)
    try:
        r = s.run("up")
        assert r.returncode == 1
        assert "000004_bad.sql" in r.stderr
        assert s.rows() == ["0:true", "1:true", "2:true", "3:true"]
        assert s.sql("SELECT to_regclass('d') IS NULL") == "t"
    finally:
        s.close()


def test_no_transaction_migration():
    files = {"000001_a.sql": FILES["000001_a.sql"],
             "000002_idx.sql": "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n"
                               "-- +goose Down\nDROP INDEX CONCURRENTLY a_id;\n"}
    s = Scratch(files)
    try:
        r = s.run("up")
        assert r.returncode == 0, r.stderr
        assert s.sql("SELECT to_regclass('a_id') IS NOT NULL") == "t"
        assert s.run("down").returncode == 0
        assert s.sql("SELECT to_regclass('a_id') IS NULL") == "t"
    finally:
        s.close()


def test_create_and_validate():
    s = Scratch(FILES)
    try:
        r = s.run("create", "add_things")
        assert r.returncode == 0, r.stderr
        assert os.path.exists(os.path.join(s.dir, "000004_add_things.sql"))
        assert s.run("validate").returncode == 0
        assert s.run("up").returncode == 0 and s.rows()[-1] == "4:true"
        assert s.run("create", "Bad Name").returncode == 2
        with open(os.path.join(s.dir, "000005_broken.sql"), "w") as f:
            f.write("CREATE TABLE x (id int);\n")
        r = s.run("validate")
        assert r.returncode == 1 and "000005_broken.sql" in r.stderr
    finally:
        s.close()


def test_usage_errors_exit_2():
    for args in ([], ["bogus"], ["up-to"], ["up-to", "x"], ["down", "extra"]):
        r = migrate("unused", "migrations", *args)
        assert r.returncode == 2, (args, r.returncode)


def test_repository_migrations_go_up_down_and_up_again():
    s = Scratch({})
    try:
        mdir = os.path.join(REPO, "migrations")
        for cmd in (("up",), ("reset",), ("up",)):
            r = migrate(s.db, mdir, *cmd)
            assert r.returncode == 0, (cmd, r.stderr)
        assert s.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'task_task'") == "1"
        assert s.run("version").returncode == 0
    finally:
        s.close()


def test_long_migration_outlives_statement_timeout_and_a_second_migrator_waits():
    files = {"000001_slow.sql": "-- +goose Up\nSELECT pg_sleep(1.5);\nCREATE TABLE slow (id int);\n"
                                "-- +goose Down\nDROP TABLE slow;\n"}
    s = Scratch(files)
    try:
        env = dict(os.environ, DB_NAME=s.db, DB_STATEMENT_TIMEOUT="500")
        cmd = [os.path.join(BIN, "honeydue-migrate"), "-dir", s.dir, "up"]
        a = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        import time
        time.sleep(0.5)
        b = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        out_a = a.communicate(timeout=60)
        assert a.returncode == 0, out_a[1]
        assert b.returncode == 0, b.stderr
        assert "waiting" in b.stderr
        assert s.rows() == ["0:true", "1:true"]  # applied once
    finally:
        s.close()
