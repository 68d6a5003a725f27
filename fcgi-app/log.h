/*
 * log.h - one JSON object per line on stderr.
 *
 * Every line has ts (RFC 3339 UTC), level, pid and event; log_line adds a
 * formatted "msg", and "request_id" while a request is being handled.
 * With LOG_FILE the lines go to that file instead (see log_open). Never pass a token, a password or
 * a connection string with a password to these functions.
 */
#ifndef HD_LOG_H
#define HD_LOG_H

#include <stddef.h>

enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set the threshold from a name (debug, info, warn, error). */
void log_set_level(const char *name);

/* Append to PATH (O_APPEND|O_CREAT, mode 0640) from now on: the file
 * replaces fd 2 of this process, and processes forked later inherit it.
 * NULL or "" keeps stderr. Returns 0, or -1 with errno set (the old
 * destination is kept). */
int log_open(const char *path);

/* Open the file given to log_open afresh (after logrotate moved it away);
 * 0 when there is none. Call between two lines, never from a handler. */
int log_reopen(void);

/* Add "request_id":ID to every log_line from now on; NULL or "" stops it.
 * The id is copied (truncated to 127 bytes). */
void log_set_request_id(const char *id);

void log_line(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A line with fields of its own (a request, a job, a stuck worker): begin,
 * add members in order, end. log_begin writes ts, level, pid and event;
 * log_end closes the object and writes it in one write(2). A string too
 * long for what is left of the line is cut, keeping room for the members
 * after it, so the line is always valid JSON. Nothing is allocated. A line
 * below the threshold costs nothing: every call returns at once. */
typedef struct {
    char buf[4096];
    size_t len;
    int skip;
} log_rec;

void log_begin(log_rec *l, int level, const char *event);
void log_str(log_rec *l, const char *key, const char *value);
void log_int(log_rec *l, const char *key, long long value);
/* A duration given in microseconds, written in milliseconds (3 decimals). */
void log_ms(log_rec *l, const char *key, long long us);
void log_end(log_rec *l);

#endif
