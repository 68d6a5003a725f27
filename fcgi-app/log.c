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

void log_timestamp(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_escape(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = *len;
    for (; s != NULL && *s != '\0' && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n < cap ? n : cap - 1] = '\0';
    *len = n;
}

void log_write(const char *line, size_t len)
{
    char out[8192];
    if (len > sizeof(out) - 1)
        len = sizeof(out) - 1;
    memcpy(out, line, len);
    out[len] = '\n';
    ssize_t w = write(STDERR_FILENO, out, len + 1);
    (void)w;
}

void log_line(int level, const char *event, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[2048], ts[40], line[4096];
    va_list ap;
    va_start(ap, fmt);
    /* clang-analyzer 14 misreads the va_start above */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_timestamp(ts, sizeof(ts));
    size_t n = (size_t)snprintf(line, sizeof(line),
                                "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"event\":\"", ts,
                                level_names[level], (int)getpid());
    log_escape(line, sizeof(line) - 16, &n, event);
    if (request_id[0] != '\0') {
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"request_id\":\"");
        log_escape(line, sizeof(line) - 16, &n, request_id);
    }
    n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"msg\":\"");
    log_escape(line, sizeof(line) - 4, &n, msg);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "\"}");
    log_write(line, n);
}
