/*
 * mail.h - email for honeydue-worker: a pure message builder (RFC 5322
 * headers, MIME multipart/alternative with a text/plain and a text/html
 * part, both UTF-8 and quoted-printable) and a sender that hands the
 * message to SMTP_URL with libcurl's SMTP client.
 *
 * SMTP_URL takes one of three schemes; the port defaults to the scheme's:
 *   smtp://[user:pass@]host[:port]           plain SMTP (25); AUTH if user is set
 *   smtp+starttls://[user:pass@]host[:port]  STARTTLS required (587): the send
 *                                            fails rather than go on in clear
 *   smtps://[user:pass@]host[:port]          implicit TLS (465)
 * user and pass are percent-decoded (a '@' in a password is %40). An optional
 * path (smtp://host/client.example) names the EHLO domain. The password is
 * never logged nor put in an error message. TLS peers are verified against
 * the system's CA store.
 *
 * SMTP_FROM is "Display Name <addr@domain>" or "addr@domain"; its domain is
 * the right-hand side of every Message-ID. SMTP_TIMEOUT_SECONDS (30) bounds a
 * whole send, and the connect within it (at most 10 s of it).
 *
 * Not thread-safe: one sender per process, as the worker runs one job at a
 * time. The caller ignores SIGPIPE (libcurl runs with CURLOPT_NOSIGNAL).
 */
#ifndef HD_MAIL_H
#define HD_MAIL_H

#include "arena.h"

#include <stddef.h>
#include <time.h>

/* A growing byte buffer, always NUL-terminated after len bytes. */
typedef struct {
    char *data;
    size_t len, cap;
} mail_buf;

void mail_buf_free(mail_buf *b);

/* Everything a message is built from. from and to are "Name <addr>" or
 * "addr"; subject, text and html are UTF-8 (html may be NULL: then the
 * message is a single text/plain part). date is the Date header's time;
 * message_id and boundary are random hex strings that the builder wraps
 * (<message_id@domain-of-from> and "=_boundary", which quoted-printable
 * output can never contain). */
typedef struct {
    const char *from;
    const char *to;
    const char *subject;
    const char *text;
    const char *html;
    time_t date;
    const char *message_id;
    const char *boundary;
} mail_message;

/* Build M into OUT (appended; OUT starts zeroed or reused), CRLF line
 * endings throughout. Returns 0, or -1 with a reason in ERR: a field other
 * than html that is NULL, a CR or LF in from, to or subject (header
 * injection), an address that is not addr@domain, a subject that is not
 * UTF-8, or no memory. */
int mail_build(const mail_message *m, mail_buf *out, char *err, size_t errcap);

/* Append the quoted-printable form (RFC 2045 6.7) of S (LEN bytes) to OUT:
 * "\n" and "\r\n" become CRLF hard line breaks; every other byte outside
 * '!'..'~', '=' and a space or tab that ends a line become =XX; lines are at
 * most 76 characters, split by "=" CRLF soft breaks that never cut an =XX.
 * Returns 0, or -1 when out of memory. */
int mail_qp_encode(mail_buf *out, const char *s, size_t len);

/* Append "NAME: VALUE" CRLF to OUT, VALUE as is when it is printable ASCII
 * (folded at spaces near 78 columns), else as RFC 2047 "=?UTF-8?B?...?="
 * encoded-words of at most 75 characters that never split a UTF-8
 * character, one per folded line. Returns 0, or -1 (with ERR) when VALUE
 * holds CR or LF or is not UTF-8, or when out of memory. */
int mail_header(mail_buf *out, const char *name, const char *value, char *err, size_t errcap);

/* Fill OUT (at least 32 bytes) with T as an RFC 5322 date in UTC:
 * "Mon, 23 Nov 2026 10:00:00 +0000". */
void mail_date(time_t t, char *out, size_t cap);

/* S with & < > " ' replaced by entities, for HTML built from user data.
 * From arena A when A is not NULL, else malloc'd (the caller frees).
 * Returns NULL when out of memory. */
char *mail_html_escape(arena *a, const char *s);

/* Address ADDR masked for a message that must not reveal it whole: the
 * first character of the local part and of the domain, "***" after each,
 * and the domain's last label ("jane.doe@example.org" -> "j***@e***.org").
 * Written to OUT (CAP bytes, 32 are always enough for a label up to 20
 * bytes; a longer one is cut); a character is a whole UTF-8 sequence. Pure. */
void mail_mask_address(const char *addr, char *out, size_t cap);

/* Read SMTP_URL, SMTP_FROM and SMTP_TIMEOUT_SECONDS (config_load first) and
 * make the sender ready; again after a reload. Logs one line describing the
 * server (never the password). Returns 0, or -1 after logging why (a missing
 * or malformed value, libcurl failing to start). */
int mail_setup(void);

/* Send one message to TO. Reuses the process's one libcurl handle, so
 * consecutive sends to the same server share a connection. Returns 0 when
 * the server accepted the message, or -1 with the reason in ERR: the
 * server's refusal when there was one ("451 4.3.0 Try again later
 * (libcurl: ...)"), else libcurl's error (connect, TLS, timeout). */
int mail_send(const char *to, const char *subject, const char *text, const char *html, char *err,
              size_t errcap);

/* The SMTP code that ended the last send: 250 after a success, the
 * server's refusal (451, 550...) after one, 0 when the send failed without
 * a refusal (no connection, TLS, timeout). A worker can give up at once on
 * 5xx and retry 4xx and 0. */
int mail_last_reply_code(void);

/* How many SMTP connections this process has opened (a send on a reused
 * connection opens none): for logs and the tests of connection reuse. */
long mail_connections(void);

/* Close the connection and free what mail_setup allocated (process exit). */
void mail_shutdown(void);

#endif
