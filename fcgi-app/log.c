/*
 * log.c - JSON log lines on stderr, one write(2) each so lines from the
 * processes of the pool never interleave. With LOG_FILE the file is put on
 * fd 2 (dup2), so the lines, and anything else a library writes to stderr,
 * land in it; log_reopen() swaps in a fresh file after logrotate moved it.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static char log_path[4096];  /* LOG_FILE in use, or "" for stderr */
static char request_id[128]; /* the request being handled, or "" */

int log_open(const char *path)
{
    if (path == NULL || *path == '\0')
        return 0;
    if (strlen(path) >= sizeof(log_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (fd != STDERR_FILENO) {
        int rc = dup2(fd, STDERR_FILENO);
        int saved = errno;
        close(fd);
        if (rc < 0) {
            errno = saved;
            return -1;
        }
    }
    memmove(log_path, path, strlen(path) + 1);
    return 0;
}

int log_reopen(void)
{
    if (log_path[0] == '\0')
        return 0;
    char path[sizeof(log_path)];
    memcpy(path, log_path, sizeof(path));
    return log_open(path);
}

void log_set_request_id(const char *id)
{
    size_t n = id != NULL ? strnlen(id, sizeof(request_id) - 1) : 0;
    memcpy(request_id, id != NULL ? id : "", n);
    request_id[n] = '\0';
}

void log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name != NULL && strcasecmp(name, level_names[i]) == 0)
            log_level = i;
}

/* What every line pays is kept small (a health check's own work is
 * smaller than its log line): the date and time to the second are
 * formatted once a second, the pid is asked for once per process (getpid
 * is a system call; a fork's child asks again), milliseconds are printed
 * as integers. */
static pid_t cached_pid;

static void forget_pid(void)
{
    cached_pid = 0;
}

static int log_pid(void)
{
    static int registered;
    if (!registered) {
        registered = pthread_atfork(NULL, NULL, forget_pid) == 0;
    }
    if (cached_pid == 0)
        cached_pid = getpid();
    return (int)cached_pid;
}

static void timestamp(char *buf, size_t cap)
{
    static time_t last_sec = -1;
    static char last[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        if (strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
            last[0] = '\0';
        last_sec = ts.tv_sec;
    }
    int ms = (int)(ts.tv_nsec / 1000000);
    size_t n = strnlen(last, cap > 6 ? cap - 6 : 0);
    memcpy(buf, last, n);
    buf[n++] = '.';
    buf[n++] = (char)('0' + ms / 100);
    buf[n++] = (char)('0' + ms / 10 % 10);
    buf[n++] = (char)('0' + ms % 10);
    buf[n++] = 'Z';
    buf[n] = '\0';
}

/* Room kept free by a string member for the members after it and the
 * closing brace: a line's numbers and short strings always fit. */
#define LOG_RESERVE 256

/* Append S as the body of a JSON string, escaped, stopping before LIMIT. */
static void escape(log_rec *l, const char *s, size_t limit)
{
    size_t n = l->len;
    for (; s != NULL && *s != '\0' && n + 7 < limit; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            l->buf[n++] = '\\';
            l->buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(l->buf + n, limit - n, "\\u%04x", c);
        } else {
            l->buf[n++] = (char)c;
        }
    }
    l->len = n;
}

/* Append N bytes of S as they are (the members' keys and punctuation:
 * what every line repeats goes by memcpy, not through printf). */
static void raw(log_rec *l, const char *s, size_t n)
{
    size_t cap = sizeof(l->buf) - 2; /* the closing brace and the newline */
    if (l->len >= cap)
        return;
    if (n > cap - l->len)
        n = cap - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void key(log_rec *l, const char *k, const char *after)
{
    raw(l, ",\"", 2);
    raw(l, k, strlen(k));
    raw(l, after, strlen(after));
}

/* V in decimal, at least MIN_DIGITS digits (zeros in front). */
static void decimal(log_rec *l, unsigned long long v, int min_digits)
{
    char d[24];
    int n = 0;
    do {
        d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || n < min_digits);
    raw(l, d + sizeof(d) - n, (size_t)n);
}

void log_begin(log_rec *l, int level, const char *event)
{
    l->skip = level < log_level;
    l->len = 0;
    if (l->skip)
        return;
    char ts[40];
    timestamp(ts, sizeof(ts));
    raw(l, "{\"ts\":\"", 7);
    raw(l, ts, strlen(ts));
    raw(l, "\"", 1);
    log_str(l, "level", level_names[level]);
    log_int(l, "pid", log_pid());
    log_str(l, "event", event);
}

void log_str(log_rec *l, const char *k, const char *value)
{
    if (l->skip)
        return;
    key(l, k, "\":\"");
    size_t limit = sizeof(l->buf) - LOG_RESERVE;
    escape(l, value, l->len < limit ? limit : l->len);
    raw(l, "\"", 1);
}

void log_int(log_rec *l, const char *k, long long value)
{
    if (l->skip)
        return;
    key(l, k, "\":");
    if (value < 0)
        raw(l, "-", 1);
    decimal(l, value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value, 1);
}

void log_ms(log_rec *l, const char *k, long long us)
{
    if (l->skip)
        return;
    if (us < 0)
        us = 0;
    key(l, k, "\":");
    decimal(l, (unsigned long long)us / 1000, 1);
    raw(l, ".", 1);
    decimal(l, (unsigned long long)us % 1000, 3);
}

void log_end(log_rec *l)
{
    if (l->skip)
        return;
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l->buf, l->len);
    (void)w;
}

void log_line(int level, const char *event, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    /* clang-analyzer 14 misreads the va_start above */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_rec l;
    log_begin(&l, level, event);
    if (request_id[0] != '\0')
        log_str(&l, "request_id", request_id);
    log_str(&l, "msg", msg);
    log_end(&l);
}
