/*
 * smtp_send.c - mail_send end to end: libcurl against the stack's real SMTP
 * sink (tests/smtp_sink.py). Not a unit test (it needs the sink), so it is
 * not named test_*: tests/run.sh runs it once the stack is up, with
 * HD_SMTP_TEST_URL (the sink's smtp:// URL) and HD_SMTP_TEST_DIR (where the
 * sink writes its .eml files), and adds its counts to the totals. Without
 * those variables every test fails rather than pass without checking.
 */
#include "config.h"
#include "log.h"
#include "mail.h"
#include "mail_check.h"
#include "test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FROM "honeyDue <no-reply@honeydue.local>"

/* mail_setup against URL (the sink's unless NULL) with TIMEOUT seconds. */
static int setup(const char *url, const char *timeout)
{
    const char *sink = getenv("HD_SMTP_TEST_URL");
    if (sink == NULL || getenv("HD_SMTP_TEST_DIR") == NULL) {
        fprintf(stderr, "  HD_SMTP_TEST_URL and HD_SMTP_TEST_DIR must name the stack's sink\n");
        return -1;
    }
    setenv("SMTP_URL", url ? url : sink, 1);
    setenv("SMTP_FROM", FROM, 1);
    setenv("SMTP_TIMEOUT_SECONDS", timeout ? timeout : "10", 1);
    if (config_load() != 0)
        return -1;
    log_set_level("warn"); /* mail_setup's line about the server, each time */
    return mail_setup();
}

/* A fresh token to find one's own message among the sink's files. */
static void token(char *out /* 33 */)
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 33, raw, sizeof(raw));
}

/* The contents of the one .eml file of DIR that contains NEEDLE (malloc'd),
 * or NULL; *N counts the files that do. */
static char *find_message_in(const char *dir, const char *needle, int *n)
{
    char *found = NULL;
    *n = 0;
    DIR *d = dir ? opendir(dir) : NULL;
    if (d == NULL)
        return NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 4, ".eml") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        char *buf = malloc(1 << 20);
        size_t got = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        buf[got] = '\0';
        if (strstr(buf, needle) != NULL) {
            (*n)++;
            free(found);
            found = buf;
        } else {
            free(buf);
        }
    }
    closedir(d);
    return found;
}

/* The same in the stack's sink. */
static char *find_message(const char *needle, int *n)
{
    return find_message_in(getenv("HD_SMTP_TEST_DIR"), needle, n);
}

TEST(send_delivers_the_message_intact)
{
    char err[512], tok[33], subject[128], v[512];
    CHECK(setup(NULL, NULL) == 0);
    token(tok);
    snprintf(subject, sizeof(subject), "Erinnerung: Filter wechseln %s \xE2\x9C\x85", tok);
    /* Lines SMTP itself cares about: a lone ".", lines that start with a
     * dot (libcurl dot-stuffs them, the server strips the stuffing), a long
     * line, trailing white space, non-ASCII. */
    char text[2048];
    char long_line[301];
    memset(long_line, 'L', 300);
    long_line[300] = '\0';
    snprintf(
        text, sizeof(text),
        "Hello %s,\n.\n.hidden line\n..two dots\n%s\nend with space \ncaf\xC3\xA9 \xE2\x82\xAC "
        "= 1\n.\n",
        tok, long_line);
    const char *html = "<p>Due: <b>Replace the filter</b></p>\n.\n<p>&amp; more</p>";
    CHECK(mail_send("Jane Doe <jane@example.com>", subject, text, html, err, sizeof(err)) == 0);
    if (err[0] != '\0')
        fprintf(stderr, "  mail_send: %s\n", err);

    /* The sink writes the file before it answers 250: it is there now. */
    int n;
    char *m = find_message(tok, &n);
    CHECK(m != NULL && n == 1);
    if (m == NULL)
        return;
    CHECK(strncmp(m, "Return-Path: <no-reply@honeydue.local>\r\n", 40) == 0);
    CHECK(strstr(m, "\r\nDelivered-To: jane@example.com\r\n") != NULL);
    char *h = unfolded_headers(m);
    CHECK(header_value(h, "To", v, sizeof(v)) == 0);
    CHECK_STR(v, "Jane Doe <jane@example.com>");
    CHECK(header_value(h, "From", v, sizeof(v)) == 0);
    CHECK_STR(v, FROM);
    CHECK(header_value(h, "Message-ID", v, sizeof(v)) == 0);
    CHECK(strlen(v) == 1 + 32 + strlen("@honeydue.local>") && v[0] == '<' &&
          strstr(v, "@honeydue.local>") != NULL);
    CHECK(header_value(h, "Date", v, sizeof(v)) == 0);
    CHECK(strlen(v) == strlen("Mon, 23 Nov 2026 10:00:00 +0000") && strstr(v, " +0000") != NULL);
    char d[512];
    CHECK(header_value(h, "Subject", v, sizeof(v)) == 0);
    CHECK(decode_words(v, d, sizeof(d)) >= 1);
    CHECK_STR(d, subject);
    free(h);

    size_t wl;
    char *want = crlf(text, strlen(text), &wl), *got = part_body(m, "text/plain");
    CHECK_STR(got, want);
    free(got);
    free(want);
    want = crlf(html, strlen(html), &wl);
    got = part_body(m, "text/html");
    CHECK_STR(got, want);
    free(got);
    free(want);
    free(m);
    mail_shutdown();
}

TEST(consecutive_sends_share_one_connection)
{
    char err[512], tok[33];
    CHECK(setup(NULL, NULL) == 0);
    long before = mail_connections();
    token(tok);
    for (int i = 0; i < 3; i++) {
        err[0] = '\0';
        CHECK(mail_send("reuse@example.com", tok, tok, NULL, err, sizeof(err)) == 0);
        if (err[0] != '\0')
            fprintf(stderr, "  mail_send: %s\n", err);
    }
    CHECK(mail_connections() - before == 1);
    int n;
    char *m = find_message(tok, &n);
    CHECK(m != NULL && n == 3);
    free(m);
    mail_shutdown();
}

TEST(a_temporary_failure_comes_back_as_the_servers_reply)
{
    char err[512], tok[33], path[4096];
    CHECK(setup(NULL, NULL) == 0);
    snprintf(path, sizeof(path), "%s/.fail", getenv("HD_SMTP_TEST_DIR"));
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("1\n", f);
    fclose(f);
    token(tok);
    CHECK(mail_send("retry@example.com", tok, tok, NULL, err, sizeof(err)) == -1);
    fprintf(stderr, "  (the error a worker records: %s)\n", err);
    CHECK(strncmp(err, "451 4.3.0 ", 10) == 0);
    CHECK(mail_last_reply_code() == 451);
    int n;
    char *m = find_message(tok, &n);
    CHECK(m == NULL && n == 0);
    CHECK(access(path, F_OK) != 0); /* one failure asked for, one given */
    /* The retry, on the same connection, goes through. */
    long before = mail_connections();
    CHECK(mail_send("retry@example.com", tok, tok, NULL, err, sizeof(err)) == 0);
    CHECK(mail_last_reply_code() == 250);
    CHECK(mail_connections() == before);
    m = find_message(tok, &n);
    CHECK(m != NULL && n == 1);
    free(m);
    mail_shutdown();
}

TEST(a_dead_address_is_a_permanent_failure)
{
    char err[512];
    CHECK(setup(NULL, NULL) == 0);
    CHECK(mail_send("nobody@bounce.invalid", "s", "t", NULL, err, sizeof(err)) == -1);
    fprintf(stderr, "  (bounced: %s)\n", err);
    CHECK(strncmp(err, "550 5.1.1 ", 10) == 0);
    CHECK(mail_last_reply_code() == 550);
    mail_shutdown();
}

TEST(a_refused_connection_is_an_error)
{
    char err[512], url[64];
    /* A bound socket that does not listen: connecting to it is refused. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(getsockname(s, (struct sockaddr *)&a, &alen) == 0);
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", ntohs(a.sin_port));
    CHECK(setup(url, NULL) == 0);
    CHECK(mail_send("jane@example.com", "s", "t", NULL, err, sizeof(err)) == -1);
    fprintf(stderr, "  (refused: %s)\n", err);
    CHECK(strstr(err, "onnect") != NULL);
    CHECK(mail_last_reply_code() == 0);
    close(s);
    mail_shutdown();
}

TEST(a_silent_server_times_out)
{
    char err[512], url[64];
    /* Listening, but it never greets: the send ends at SMTP_TIMEOUT_SECONDS. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 4) == 0);
    CHECK(getsockname(s, (struct sockaddr *)&a, &alen) == 0);
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", ntohs(a.sin_port));
    CHECK(setup(url, "1") == 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(mail_send("jane@example.com", "s", "t", NULL, err, sizeof(err)) == -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "  (silent server, %.2f s: %s)\n", took, err);
    CHECK(mail_last_reply_code() == 0);
    CHECK(took >= 0.9 && took < 5);
    CHECK(strstr(err, "imeout") != NULL || strstr(err, "timed out") != NULL);
    close(s);
    mail_shutdown();
}

TEST(injection_is_refused_before_anything_is_sent)
{
    char err[512], tok[33], subject[128];
    CHECK(setup(NULL, NULL) == 0);
    token(tok);
    snprintf(subject, sizeof(subject), "%s\r\nBcc: everyone@example.com", tok);
    long before = mail_connections();
    CHECK(mail_send("jane@example.com", subject, tok, NULL, err, sizeof(err)) == -1);
    CHECK(strstr(err, "CR or LF") != NULL);
    CHECK(mail_send("jane@example.com\r\nBcc: x@example.com", tok, tok, NULL, err, sizeof(err)) ==
          -1);
    CHECK(mail_connections() == before);
    int n;
    char *m = find_message(tok, &n);
    CHECK(m == NULL && n == 0);
    mail_shutdown();
}

/* ---- TLS and AUTH: tests/run.sh starts two more sinks with a certificate
 * made for the run. HD_SMTP_TLS_URL is smtp+starttls://USER:PASS@host:port
 * (STARTTLS and AUTH required), HD_SMTPS_URL the same with implicit TLS,
 * HD_SMTP_TLS_PLAIN_URL the STARTTLS sink as plain smtp://, HD_SMTP_CA_FILE
 * the certificate, HD_SMTP_TLS_DIR where both sinks keep their mail. */

static const char *tls_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        fprintf(stderr, "  %s is not set (tests/run.sh starts the TLS sinks)\n", name);
    return v;
}

/* Send a message with a fresh token through URL, trusting the run's CA when
 * TRUST; returns mail_send's result and the token in TOK. */
static int send_via(const char *url, int trust, char *tok, char *err, size_t errcap)
{
    const char *ca = tls_env("HD_SMTP_CA_FILE");
    if (url == NULL || ca == NULL)
        return -2;
    if (trust)
        setenv("SMTP_CA_FILE", ca, 1);
    else
        unsetenv("SMTP_CA_FILE");
    int rc = setup(url, NULL);
    unsetenv("SMTP_CA_FILE");
    if (rc != 0)
        return -2;
    token(tok);
    err[0] = '\0';
    rc = mail_send("tls@example.com", tok, tok, NULL, err, errcap);
    if (err[0] != '\0')
        fprintf(stderr, "  (mail_send: %s)\n", err);
    return rc;
}

TEST(starttls_and_auth_deliver_to_a_server_that_requires_both)
{
    char err[512], tok[33];
    CHECK(send_via(tls_env("HD_SMTP_TLS_URL"), 1, tok, err, sizeof(err)) == 0);
    CHECK(mail_last_reply_code() == 250);
    int n;
    char *m = find_message_in(tls_env("HD_SMTP_TLS_DIR"), tok, &n);
    CHECK(m != NULL && n == 1);
    free(m);
    mail_shutdown();
}

TEST(implicit_tls_and_auth_deliver)
{
    char err[512], tok[33];
    CHECK(send_via(tls_env("HD_SMTPS_URL"), 1, tok, err, sizeof(err)) == 0);
    int n;
    char *m = find_message_in(tls_env("HD_SMTP_TLS_DIR"), tok, &n);
    CHECK(m != NULL && n == 1);
    free(m);
    mail_shutdown();
}

TEST(a_wrong_password_is_the_servers_permanent_refusal)
{
    char err[512], tok[33], url[512];
    const char *good = tls_env("HD_SMTP_TLS_URL");
    CHECK(good != NULL);
    if (good == NULL)
        return;
    /* smtp+starttls://USER:PASS@... -> smtp+starttls://USER:wrong@... */
    const char *colon = strchr(good + strlen("smtp+starttls://"), ':');
    const char *at = strchr(good, '@');
    CHECK(colon != NULL && at != NULL && colon < at);
    if (colon == NULL || at == NULL)
        return;
    snprintf(url, sizeof(url), "%.*swrong%s", (int)(colon + 1 - good), good, at);
    CHECK(send_via(url, 1, tok, err, sizeof(err)) == -1);
    CHECK(mail_last_reply_code() == 535); /* 5xx: the worker does not retry it */
    int n;
    char *m = find_message_in(tls_env("HD_SMTP_TLS_DIR"), tok, &n);
    CHECK(m == NULL && n == 0);
    mail_shutdown();
}

TEST(an_untrusted_certificate_stops_the_send_before_auth)
{
    char err[512], tok[33];
    /* The system's CAs do not know the run's certificate. */
    CHECK(send_via(tls_env("HD_SMTP_TLS_URL"), 0, tok, err, sizeof(err)) == -1);
    CHECK(mail_last_reply_code() < 500); /* a transport error: retried, not dead */
    CHECK(strstr(err, "certificate") != NULL || strstr(err, "SSL") != NULL);
    int n;
    char *m = find_message_in(tls_env("HD_SMTP_TLS_DIR"), tok, &n);
    CHECK(m == NULL && n == 0);
    mail_shutdown();
}

TEST(plain_smtp_to_a_server_that_requires_starttls_is_refused)
{
    char err[512], tok[33];
    CHECK(send_via(tls_env("HD_SMTP_TLS_PLAIN_URL"), 1, tok, err, sizeof(err)) == -1);
    CHECK(mail_last_reply_code() == 530);
    int n;
    char *m = find_message_in(tls_env("HD_SMTP_TLS_DIR"), tok, &n);
    CHECK(m == NULL && n == 0);
    mail_shutdown();
}

RUN_TESTS()
