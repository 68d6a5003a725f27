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

/* Append S to BUF (capacity CAP, current length *LEN) as a JSON string
 * body (no quotes), escaping as needed; truncates rather than overflow. */
void log_escape(char *buf, size_t cap, size_t *len, const char *s);

/* Write a finished line (without the trailing newline) in one write(2). */
void log_write(const char *line, size_t len);

/* Fill BUF with the current UTC time as 2026-11-23T07:00:00.123Z. */
void log_timestamp(char *buf, size_t cap);

#endif
