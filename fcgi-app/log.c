/*
 * log.c - JSON log lines on stderr, one write(2) each so lines from the
 * processes of the pool never interleave. With LOG_FILE the file is put on
 * fd 2 (dup2), so the lines, and anything else a library writes to stderr,
 * land in it; log_reopen() swaps in a fresh file after logrotate moved it.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
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

static void timestamp(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
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

/* Append formatted text, never past the end of the buffer. */
__attribute__((format(printf, 2, 3))) static void append(log_rec *l, const char *fmt, ...)
{
    size_t cap = sizeof(l->buf) - 2; /* the closing brace and the newline */
    if (l->len >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    int n = vsnprintf(l->buf + l->len, cap - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < cap - l->len ? (size_t)n : cap - l->len - 1;
}

void log_begin(log_rec *l, int level, const char *event)
{
    l->skip = level < log_level;
    l->len = 0;
    if (l->skip)
        return;
    char ts[40];
    timestamp(ts, sizeof(ts));
    append(l, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d", ts, level_names[level],
           (int)getpid());
    log_str(l, "event", event);
}

void log_str(log_rec *l, const char *key, const char *value)
{
    if (l->skip)
        return;
    append(l, ",\"%s\":\"", key);
    size_t limit = sizeof(l->buf) - LOG_RESERVE;
    escape(l, value, l->len < limit ? limit : l->len);
    append(l, "\"");
}

void log_int(log_rec *l, const char *key, long long value)
{
    if (!l->skip)
        append(l, ",\"%s\":%lld", key, value);
}

void log_ms(log_rec *l, const char *key, double ms)
{
    if (!l->skip)
        append(l, ",\"%s\":%.3f", key, ms);
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
