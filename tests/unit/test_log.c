/*
 * test_log.c - the log's file handling and request ids, and pidfiles:
 * LOG_FILE replaces stderr, a reopen after a move starts a new file, the
 * request id is on the lines written while it is set and on no others; a
 * pidfile naming a live process of the same program is refused.
 */
#include "log.h"
#include "pidfile.h"
#include "test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

TEST(log_file_reopen_and_request_id)
{
    char dir[] = "/tmp/hd-log-XXXXXX", path[128], moved[128], a[4096], b[4096];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/api.log", dir);
    snprintf(moved, sizeof(moved), "%s/api.log.1", dir);
    umask(022);
    int saved = dup(STDERR_FILENO);
    CHECK(log_open(path) == 0);
    log_set_request_id("req-\"1\"");
    log_line(LOG_WARN, "db", "connection to postgres lost");
    log_set_request_id(NULL);
    log_line(LOG_INFO, "worker", "idle");
    CHECK(rename(path, moved) == 0);
    log_line(LOG_INFO, "worker", "still the moved file");
    CHECK(log_reopen() == 0);
    log_set_request_id("");
    log_line(LOG_INFO, "worker", "in the new file");
    dup2(saved, STDERR_FILENO);
    close(saved);

    slurp(moved, a, sizeof(a));
    slurp(path, b, sizeof(b));
    CHECK(count_lines(a) == 3);
    CHECK(strstr(a, "\"event\":\"db\",\"request_id\":\"req-\\\"1\\\"\",\"msg\":\"connection") !=
          NULL);
    CHECK(strstr(strstr(a, "\n") + 1, "request_id") == NULL);
    CHECK(strstr(a, "still the moved file") != NULL);
    CHECK(count_lines(b) == 1);
    CHECK(strstr(b, "\"msg\":\"in the new file\"}") != NULL && strstr(b, "request_id") == NULL);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}

/* The cheap parts of a line stay right: milliseconds from microseconds,
 * a timestamp per line (its seconds cached), and the pid of the process
 * that writes, a fork's child included (the pid is asked for once). */
TEST(log_line_numbers_time_and_pid)
{
    char dir[] = "/tmp/hd-log-XXXXXX", path[128], buf[8192], want[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/api.log", dir);
    int saved = dup(STDERR_FILENO);
    CHECK(log_open(path) == 0);
    log_rec l;
    log_begin(&l, LOG_WARN, "t");
    log_ms(&l, "a", 1234567);
    log_ms(&l, "b", 5);
    log_ms(&l, "c", -3);
    log_end(&l);
    log_line(LOG_WARN, "t", "parent");
    pid_t child = fork();
    if (child == 0) {
        log_line(LOG_WARN, "t", "child");
        _exit(0);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child && status == 0);
    dup2(saved, STDERR_FILENO);
    close(saved);
    slurp(path, buf, sizeof(buf));
    CHECK(strstr(buf, "\"a\":1234.567,\"b\":0.005,\"c\":0.000}") != NULL);
    snprintf(want, sizeof(want), "\"pid\":%d,\"event\":\"t\",\"msg\":\"parent\"", (int)getpid());
    CHECK(strstr(buf, want) != NULL);
    snprintf(want, sizeof(want), "\"pid\":%d,\"event\":\"t\",\"msg\":\"child\"", (int)child);
    CHECK(strstr(buf, want) != NULL);
    /* "ts":"YYYY-MM-DDTHH:MM:SS.mmmZ" on every line */
    int lines = 0;
    for (const char *p = buf; (p = strstr(p, "{\"ts\":\"")) != NULL; p += 8, lines++)
        CHECK(strlen(p) > 33 && p[11] == '-' && p[17] == 'T' && p[26] == '.' && p[30] == 'Z');
    CHECK(lines == 3);
    unlink(path);
    rmdir(dir);
}

TEST(log_open_refuses_an_unwritable_path)
{
    CHECK(log_open("/nonexistent-dir/api.log") == -1);
    CHECK(log_open(NULL) == 0 && log_open("") == 0);
}

TEST(pidfile_written_refused_while_alive_and_removed)
{
    char dir[] = "/tmp/hd-pid-XXXXXX", path[128], buf[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/x.pid", dir);
    CHECK(pidfile_check(path, "test_log") == 0); /* no file */
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fprintf(f, "%d\n", (int)child);
        fclose(f);
    }
    CHECK(pidfile_check(path, "test_log") == -1);     /* a live test_log */
    CHECK(pidfile_check(path, "honeydue-fcgi") == 0); /* another program */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(pidfile_check(path, "test_log") == 0); /* stale */
    CHECK(pidfile_write(path) == 0);
    slurp(path, buf, sizeof(buf));
    CHECK(atoi(buf) == (int)getpid());
    CHECK(pidfile_check(path, "test_log") == 0); /* ourselves */
    pidfile_remove();
    CHECK(access(path, F_OK) != 0);
    rmdir(dir);
}

RUN_TESTS()
