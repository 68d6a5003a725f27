/*
 * test_goose.c - the goose migration file parser and the pooler host rule.
 */
#include "dbconnect.h"
#include "goose.h"
#include "test.h"

static goose_migration m;
static char err[256];

static int parse(const char *text)
{
    goose_free(&m);
    err[0] = '\0';
    return goose_parse(text, &m, err, sizeof(err));
}

TEST(up_and_down_sections)
{
    CHECK(parse("-- a comment\n-- +goose Up\nCREATE TABLE a (id int);\nCREATE TABLE b (id "
                "int);\n\n-- +goose Down\nDROP TABLE b;\nDROP TABLE a;\n") == 0);
    CHECK(m.up.n == 2 && m.down.n == 2);
    if (m.up.n == 2) {
        CHECK_STR(m.up.stmts[0], "CREATE TABLE a (id int);");
        CHECK_STR(m.up.stmts[1], "CREATE TABLE b (id int);");
    }
    CHECK(!m.no_transaction);
}

TEST(multi_line_statement)
{
    CHECK(parse("-- +goose Up\nCREATE TABLE a (\n  id int,\n  name text\n);\n") == 0);
    CHECK(m.up.n == 1 && m.down.n == 0);
    if (m.up.n == 1)
        CHECK_STR(m.up.stmts[0], "CREATE TABLE a (\n  id int,\n  name text\n);");
}

TEST(statement_begin_end_keeps_inner_semicolons)
{
    CHECK(parse("-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS "
                "'SELECT 1;' LANGUAGE sql;\nSELECT 2;\n-- +goose StatementEnd\nSELECT 3;\n") == 0);
    CHECK(m.up.n == 2);
    if (m.up.n == 2) {
        CHECK(strstr(m.up.stmts[0], "SELECT 2;") != NULL);
        CHECK_STR(m.up.stmts[1], "SELECT 3;");
    }
}

TEST(dollar_quoted_bodies_do_not_split)
{
    CHECK(parse("-- +goose Up\nCREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  NEW.x := 1;\n"
                "  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\nDO $body$ BEGIN PERFORM 1; END "
                "$body$;\n") == 0);
    CHECK(m.up.n == 2);
    if (m.up.n == 2) {
        CHECK(strstr(m.up.stmts[0], "RETURN NEW;") != NULL);
        CHECK(strncmp(m.up.stmts[1], "DO $body$", 9) == 0);
    }
}

TEST(semicolons_in_strings_identifiers_and_comments)
{
    CHECK(parse("-- +goose Up\nINSERT INTO t VALUES ('a;b', 'it''s;');\n"
                "SELECT \"odd;name\" FROM t; -- trailing; comment\n"
                "/* block; comment /* nested; */ still; */ SELECT 1;\n") == 0);
    CHECK(m.up.n == 3);
    if (m.up.n == 3) {
        CHECK_STR(m.up.stmts[0], "INSERT INTO t VALUES ('a;b', 'it''s;');");
        CHECK_STR(m.up.stmts[1], "SELECT \"odd;name\" FROM t;");
        CHECK(strstr(m.up.stmts[2], "SELECT 1;") != NULL);
    }
}

/* E'...' strings take backslash escapes: \' does not end them, and a valid
 * migration was refused as "unterminated string" (found while writing the
 * fuzz harness of the splitter; its seed: tests/fuzz/corpus/goose/e_string_escape). */
TEST(escape_strings_keep_escaped_quotes)
{
    CHECK(parse("-- +goose Up\nINSERT INTO t VALUES (E'it\\'s; fine\\\\', e'\\\\');\n"
                "SELECT 'a\\';\nSELECT name'; x';\nSELECT x$e'; y';\n") == 0);
    CHECK(m.up.n == 4);
    if (m.up.n == 4) {
        CHECK_STR(m.up.stmts[0], "INSERT INTO t VALUES (E'it\\'s; fine\\\\', e'\\\\');");
        CHECK_STR(m.up.stmts[1], "SELECT 'a\\';");
        CHECK_STR(m.up.stmts[2], "SELECT name'; x';");
        CHECK_STR(m.up.stmts[3], "SELECT x$e'; y';");
    }
}

TEST(parameters_are_not_dollar_quotes)
{
    CHECK(parse("-- +goose Up\nPREPARE p AS SELECT $1;\nSELECT 2;\n") == 0);
    CHECK(m.up.n == 2);
}

TEST(comment_only_chunks_are_dropped)
{
    CHECK(parse("-- +goose Up\nSELECT 1;\n-- nothing after\n\n-- +goose Down\n-- nothing\n") == 0);
    CHECK(m.up.n == 1 && m.down.n == 0);
}

TEST(no_transaction_annotation)
{
    CHECK(parse("-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t "
                "(x);\n-- +goose Down\nDROP INDEX CONCURRENTLY i;\n") == 0);
    CHECK(m.no_transaction && m.up.n == 1 && m.down.n == 1);
}

TEST(errors_are_reported)
{
    CHECK(parse("CREATE TABLE a (id int);\n") == -1);
    CHECK(parse("-- just a comment\n") == -1);
    CHECK(strstr(err, "Up") != NULL);
    CHECK(parse("-- +goose Up\nSELECT 1;\n-- +goose Up\nSELECT 2;\n") == -1);
    CHECK(strstr(err, "duplicate") != NULL);
    CHECK(parse("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n") == -1);
    CHECK(parse("-- +goose Up\n-- +goose StatementEnd\n") == -1);
    CHECK(parse("-- +goose Up\nSELECT 'unterminated;\n") == -1);
    CHECK(parse("-- +goose Up\nDO $$ BEGIN END;\n") == -1);
    /* Annotations are case-insensitive; unknown ones are refused, not skipped. */
    CHECK(parse("-- +goose up\nSELECT 1;\n-- +goose down\nSELECT 2;\n") == 0);
    CHECK(parse("-- +goose Up\n-- +goose StatmentBegin\nSELECT 1;\n") == -1);
    CHECK(strstr(err, "line 2: unknown annotation 'StatmentBegin'") != NULL);
    CHECK(parse("-- +goose ENVSUB ON\n-- +goose Up\nSELECT '${X}';\n") == -1);
    CHECK(strstr(err, "ENVSUB ON") != NULL);
}

TEST(version_from_file_name)
{
    CHECK(goose_version("000001_init.sql") == 1);
    CHECK(goose_version("migrations/000042_add_things.sql") == 42);
    CHECK(goose_version("20240101120000_stamp.sql") == 20240101120000LL);
    CHECK(goose_version("init.sql") == -1);
    CHECK(goose_version("000001_init.txt") == -1);
    CHECK(goose_version("000001init.sql") == -1);
    CHECK(goose_version("000000_zero.sql") == -1);
    CHECK(goose_version("README.md") == -1);
}

TEST(direct_host_strips_pooler)
{
    char out[128];
    CHECK(db_direct_host("ep-cool-123-pooler.eu-central-1.aws.neon.tech", out, sizeof(out)) == 1);
    CHECK_STR(out, "ep-cool-123.eu-central-1.aws.neon.tech");
    CHECK(db_direct_host("db-pooler", out, sizeof(out)) == 1);
    CHECK_STR(out, "db");
    CHECK(db_direct_host("127.0.0.1", out, sizeof(out)) == 0);
    CHECK_STR(out, "127.0.0.1");
    CHECK(db_direct_host("pooler.example.com", out, sizeof(out)) == 0);
    CHECK(db_direct_host("db.x-pooler.com", out, sizeof(out)) == 0);
    CHECK(db_direct_host("a-very-long-host-name", out, 4) == -1);
}

TEST(repository_migrations_parse)
{
    /* run from the repository root by tests/unit/run.sh */
    FILE *f = fopen("migrations/000001_init.sql", "r");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    CHECK(parse(buf) == 0);
    CHECK(m.up.n >= 6 && m.down.n == 6);
    goose_free(&m);
}

RUN_TESTS()
