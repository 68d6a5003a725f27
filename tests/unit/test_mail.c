/*
 * test_mail.c - the pure half of fcgi-app/mail.c: quoted-printable, header
 * encoding and folding, header-injection refusal, addresses, the Date
 * format, the whole message's MIME structure (decoded back and compared),
 * HTML escaping, and SMTP_URL handling in mail_setup (which never logs the
 * password). Sending through a real SMTP server is tests/unit/smtp_send.c,
 * which tests/run.sh runs once the stack's sink is up.
 */
#include "arena.h"
#include "config.h"
#include "mail.h"
#include "mail_check.h"
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The quoted-printable form of S, malloc'd (never NULL: a test binary may
 * give up when memory runs out). */
static char *qp(const char *s)
{
    mail_buf b = {0};
    if (mail_qp_encode(&b, s, strlen(s)) != 0 ||
        (b.data == NULL && (b.data = strdup("")) == NULL)) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return b.data;
}

/* ---- quoted-printable ------------------------------------------------------ */

TEST(qp_keeps_printable_ascii)
{
    char *e = qp("Hello, world! ~ {x} [y] .done");
    CHECK_STR(e, "Hello, world! ~ {x} [y] .done");
    free(e);
    e = qp("");
    CHECK_STR(e, "");
    free(e);
}

TEST(qp_escapes_equals_controls_and_utf8)
{
    char *e = qp("a=b \xC3\xA9t\xC3\xA9 \x01\x7F");
    CHECK_STR(e, "a=3Db =C3=A9t=C3=A9 =01=7F");
    free(e);
    e = qp("=");
    CHECK_STR(e, "=3D");
    free(e);
}

TEST(qp_trailing_white_space_is_escaped)
{
    char *e = qp("end \nnext\t\nmid dle \t");
    CHECK_STR(e, "end=20\r\nnext=09\r\nmid dle =09");
    free(e);
    e = qp(" ");
    CHECK_STR(e, "=20");
    free(e);
    e = qp("two  \r\nx");
    CHECK_STR(e, "two =20\r\nx");
    free(e);
}

TEST(qp_line_breaks_become_crlf)
{
    char *e = qp("a\r\nb\nc\rd\n\n");
    CHECK_STR(e, "a\r\nb\r\nc=0Dd\r\n\r\n");
    free(e);
    e = qp("x\r");
    CHECK_STR(e, "x=0D");
    free(e);
}

TEST(qp_soft_breaks_at_76)
{
    char in[300], want[400];
    memset(in, 'a', 76);
    in[76] = '\0';
    char *e = qp(in); /* exactly 76: fits on one line */
    CHECK_STR(e, in);
    free(e);

    memset(in, 'a', 77);
    in[77] = '\0';
    e = qp(in); /* 77: 75 + '=' then 2 */
    snprintf(want, sizeof(want), "%.75s=\r\naa", in);
    CHECK_STR(e, want);
    free(e);

    memset(in, 'b', 200);
    in[200] = '\0';
    e = qp(in);
    CHECK(count(e, "=\r\n") == 2);
    CHECK(strlen(e) == 200 + 2 * 3);
    CHECK(qp_well_formed(e, strlen(e)));
    free(e);

    /* 76 then a newline then 76: hard break, no soft one. */
    memset(in, 'c', 76);
    in[76] = '\n';
    memset(in + 77, 'd', 76);
    in[153] = '\0';
    e = qp(in);
    CHECK(count(e, "=\r\n") == 0);
    free(e);
}

TEST(qp_never_splits_an_escape)
{
    char in[200];
    for (size_t pre = 70; pre <= 76; pre++) {
        memset(in, 'x', pre);
        strcpy(in + pre, "\xC3\xA9\xC3\xA9=tail");
        char *e = qp(in);
        CHECK(qp_well_formed(e, strlen(e)));
        /* No soft break between '=' and its two hex digits. */
        CHECK(strstr(e, "=\r\n") != NULL);
        for (const char *p = e; p != NULL && (p = strstr(p, "=\r\n")) != NULL; p += 3)
            CHECK(p - e < 2 || (p[-1] != '=' && p[-2] != '='));
        char *d;
        size_t dl;
        qp_decode(e, strlen(e), &d, &dl);
        CHECK_STR(d, in);
        free(d);
        free(e);
    }
}

TEST(qp_trailing_space_at_a_soft_break_point)
{
    /* 75 characters then a space that ends the text: the escape =20 does
     * not fit after 75, so it goes to the next line, whole. */
    char in[100];
    memset(in, 'y', 75);
    in[75] = ' ';
    in[76] = '\0';
    char *e = qp(in);
    CHECK(qp_well_formed(e, strlen(e)));
    char *d;
    size_t dl;
    qp_decode(e, strlen(e), &d, &dl);
    CHECK_STR(d, in);
    free(d);
    free(e);
}

TEST(qp_leaves_leading_dots_to_smtp)
{
    /* Dot-stuffing is the SMTP client's job (libcurl does it, and
     * smtp_send.c proves it end to end): the encoding keeps the dots. */
    char *e = qp(".\n.hidden\n..");
    CHECK_STR(e, ".\r\n.hidden\r\n..");
    free(e);
}

TEST(qp_round_trips_random_text)
{
    static const char *const alphabet[] = {"a",
                                           "Z",
                                           " ",
                                           "\t",
                                           "=",
                                           ".",
                                           "\n",
                                           "\r\n",
                                           "\r",
                                           "\xC3\xA9",
                                           "\xE2\x82\xAC",
                                           "\xF0\x9F\x8F\xA0",
                                           "~",
                                           "\x01",
                                           "-",
                                           "_"};
    uint32_t seed = 12345;
    char in[1200];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        size_t parts = (seed >> 16) % 300;
        for (size_t k = 0; k < parts; k++) {
            seed = seed * 1103515245u + 12345u;
            const char *a = alphabet[(seed >> 16) % (sizeof(alphabet) / sizeof(alphabet[0]))];
            /* Long runs of one letter make long lines. */
            size_t rep = ((seed >> 8) & 7) == 0 ? 40 : 1;
            for (size_t r = 0; r < rep && n + strlen(a) < sizeof(in) - 1; r++) {
                memcpy(in + n, a, strlen(a));
                n += strlen(a);
            }
        }
        in[n] = '\0';
        mail_buf b = {0};
        CHECK(mail_qp_encode(&b, in, n) == 0);
        const char *e = b.data ? b.data : "";
        int ok = qp_well_formed(e, b.len);
        char *d;
        size_t dl, wl;
        qp_decode(e, b.len, &d, &dl);
        char *want = crlf(in, n, &wl);
        ok = ok && dl == wl && memcmp(d, want, dl) == 0;
        if (!ok) {
            fprintf(stderr, "  iteration %d: input %zu bytes does not round-trip\n", iter, n);
            *failed = 1;
        }
        free(d);
        free(want);
        mail_buf_free(&b);
        if (!ok)
            break;
    }
}

/* ---- headers --------------------------------------------------------------- */

TEST(header_ascii_as_is)
{
    mail_buf b = {0};
    char err[128];
    CHECK(mail_header(&b, "Subject", "Your tasks for today", err, sizeof(err)) == 0);
    CHECK_STR(b.data, "Subject: Your tasks for today\r\n");
    mail_buf_free(&b);
    CHECK(mail_header(&b, "Subject", "", err, sizeof(err)) == 0);
    CHECK_STR(b.data, "Subject:\r\n");
    mail_buf_free(&b);
}

TEST(header_long_ascii_folds_at_spaces)
{
    mail_buf b = {0};
    char err[128];
    const char *s = "Reminder: replace the furnace filter, clean the gutters, test the smoke "
                    "alarms, drain the water heater and service the air conditioner before summer";
    CHECK(mail_header(&b, "Subject", s, err, sizeof(err)) == 0);
    CHECK(count(b.data, "\r\n") >= 2);
    for (const char *line = b.data; *line != '\0';) {
        const char *end = strstr(line, "\r\n");
        CHECK(end != NULL && end - line <= 78);
        CHECK(end == NULL || end == line || end[-1] != ' '); /* folds before a space */
        if (end == NULL)
            break;
        line = end + 2;
    }
    char *u = unfolded_headers(b.data), v[512];
    CHECK(header_value(u, "Subject", v, sizeof(v)) == 0);
    CHECK_STR(v, s);
    free(u);
    mail_buf_free(&b);
}

TEST(header_non_ascii_becomes_encoded_words)
{
    mail_buf b = {0};
    char err[128], v[512], d[512];
    const char *s = "\xC3\x9C"
                    "berf\xC3\xA4llig: Filter wechseln \xF0\x9F\x94\xA7";
    CHECK(mail_header(&b, "Subject", s, err, sizeof(err)) == 0);
    CHECK(strncmp(b.data, "Subject: =?UTF-8?B?", 19) == 0);
    char *u = unfolded_headers(b.data);
    CHECK(header_value(u, "Subject", v, sizeof(v)) == 0);
    CHECK(decode_words(v, d, sizeof(d)) == 1);
    CHECK_STR(d, s);
    free(u);
    mail_buf_free(&b);
}

TEST(header_long_utf8_splits_between_characters)
{
    mail_buf b = {0};
    char err[128], v[4096], d[4096], s[1024];
    size_t n = 0;
    for (int i = 0; i < 40; i++) { /* 2-, 3- and 4-byte characters, 360 bytes */
        memcpy(s + n, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x8F\xA0", 9);
        n += 9;
    }
    s[n] = '\0';
    CHECK(mail_header(&b, "Subject", s, err, sizeof(err)) == 0);
    for (const char *line = b.data; *line != '\0';) {
        const char *end = strstr(line, "\r\n");
        CHECK(end != NULL && end - line <= 9 + 75);
        if (end == NULL)
            break;
        line = end + 2;
    }
    char *u = unfolded_headers(b.data);
    CHECK(header_value(u, "Subject", v, sizeof(v)) == 0);
    int words = decode_words(v, d, sizeof(d));
    CHECK(words >= 8);
    CHECK_STR(d, s);
    free(u);
    mail_buf_free(&b);
}

TEST(header_encodes_what_looks_like_an_encoded_word)
{
    mail_buf b = {0};
    char err[128], v[256], d[256];
    CHECK(mail_header(&b, "Subject", "price =?x?= ok", err, sizeof(err)) == 0);
    char *u = unfolded_headers(b.data);
    CHECK(header_value(u, "Subject", v, sizeof(v)) == 0);
    CHECK(decode_words(v, d, sizeof(d)) == 1);
    CHECK_STR(d, "price =?x?= ok");
    free(u);
    mail_buf_free(&b);
}

TEST(header_refuses_cr_lf_and_bad_utf8)
{
    mail_buf b = {0};
    char err[128];
    CHECK(mail_header(&b, "Subject", "hi\r\nBcc: victim@example.com", err, sizeof(err)) == -1);
    CHECK(strstr(err, "CR or LF") != NULL);
    CHECK(mail_header(&b, "Subject", "hi\nBcc: victim@example.com", err, sizeof(err)) == -1);
    CHECK(mail_header(&b, "Subject", "hi\rthere", err, sizeof(err)) == -1);
    CHECK(mail_header(&b, "Subject", "bad \xC3( utf8", err, sizeof(err)) == -1);
    CHECK(strstr(err, "UTF-8") != NULL);
    CHECK(mail_header(&b, "Subject", "overlong \xC0\xAF", err, sizeof(err)) == -1);
    CHECK(mail_header(&b, "Subject", "surrogate \xED\xA0\x80", err, sizeof(err)) == -1);
    CHECK(b.len == 0);
    mail_buf_free(&b);
}

TEST(date_is_rfc5322_utc)
{
    char d[64];
    mail_date(0, d, sizeof(d));
    CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 +0000");
    mail_date(1795428000, d, sizeof(d));
    CHECK_STR(d, "Mon, 23 Nov 2026 10:00:00 +0000");
    mail_date(1772694249, d, sizeof(d));
    CHECK_STR(d, "Thu, 05 Mar 2026 07:04:09 +0000");
    mail_date(1709251199, d, sizeof(d));
    CHECK_STR(d, "Thu, 29 Feb 2024 23:59:59 +0000");
}

/* ---- whole messages ------------------------------------------------------- */

static mail_message sample(void)
{
    mail_message m = {
        .from = "honeyDue <no-reply@honeydue.local>",
        .to = "jane@example.com",
        .subject = "3 tasks due today",
        .text = "Hi Jane,\n\nDue today:\n- Replace the furnace filter\n.\n-- \nhoneyDue\n",
        .html = "<p>Hi Jane,</p>\n<ul><li>Replace the furnace filter</li></ul>\n",
        .date = 1795428000,
        .message_id = "0123456789abcdef0123456789abcdef",
        .boundary = "b0b0b0",
    };
    return m;
}

TEST(message_has_the_required_headers)
{
    mail_message m = sample();
    mail_buf b = {0};
    char err[128], v[256];
    CHECK(mail_build(&m, &b, err, sizeof(err)) == 0);
    CHECK(strncmp(b.data, "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n", 39) == 0);
    char *h = unfolded_headers(b.data);
    CHECK(header_value(h, "Message-ID", v, sizeof(v)) == 0);
    CHECK_STR(v, "<0123456789abcdef0123456789abcdef@honeydue.local>");
    CHECK(header_value(h, "From", v, sizeof(v)) == 0);
    CHECK_STR(v, "honeyDue <no-reply@honeydue.local>");
    CHECK(header_value(h, "To", v, sizeof(v)) == 0);
    CHECK_STR(v, "jane@example.com");
    CHECK(header_value(h, "Subject", v, sizeof(v)) == 0);
    CHECK_STR(v, "3 tasks due today");
    CHECK(header_value(h, "MIME-Version", v, sizeof(v)) == 0);
    CHECK_STR(v, "1.0");
    CHECK(header_value(h, "Content-Type", v, sizeof(v)) == 0);
    CHECK_STR(v, "multipart/alternative; boundary=\"=_b0b0b0\"");
    free(h);
    mail_buf_free(&b);
}

TEST(message_mime_structure_and_both_parts)
{
    mail_message m = sample();
    mail_buf b = {0};
    char err[128];
    CHECK(mail_build(&m, &b, err, sizeof(err)) == 0);
    const char *s = b.data;
    /* CRLF everywhere, no line over 998. */
    size_t col = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (s[i] == '\n')
            CHECK(i > 0 && s[i - 1] == '\r');
        if (s[i] == '\r')
            CHECK(s[i + 1] == '\n');
        col = s[i] == '\n' ? 0 : col + 1;
        CHECK(col <= 998);
    }
    CHECK(count(s, "\r\n--=_b0b0b0\r\n") == 2);
    CHECK(count(s, "\r\n--=_b0b0b0--\r\n") == 1);
    const char *close = "\r\n--=_b0b0b0--\r\n";
    CHECK(b.len > strlen(close) && strcmp(s + b.len - strlen(close), close) == 0);
    CHECK(count(s, "Content-Transfer-Encoding: quoted-printable\r\n") == 2);
    CHECK(strstr(s, "Content-Type: text/plain; charset=UTF-8\r\n") != NULL);
    CHECK(strstr(s, "Content-Type: text/html; charset=UTF-8\r\n") != NULL);
    /* text/plain first (the least preferred alternative comes first). */
    CHECK(strstr(s, "text/plain") < strstr(s, "text/html"));
    size_t wl;
    char *t = part_body(s, "text/plain"), *want = crlf(m.text, strlen(m.text), &wl);
    CHECK_STR(t, want);
    free(t);
    free(want);
    t = part_body(s, "text/html");
    want = crlf(m.html, strlen(m.html), &wl);
    CHECK_STR(t, want);
    free(t);
    free(want);
    mail_buf_free(&b);
}

TEST(message_body_cannot_contain_the_boundary)
{
    mail_message m = sample();
    m.text = "--=_b0b0b0\n--=_b0b0b0--\n";
    mail_buf b = {0};
    char err[128];
    CHECK(mail_build(&m, &b, err, sizeof(err)) == 0);
    CHECK(count(b.data, "--=_b0b0b0") == 3); /* the two delimiters and the close */
    char *t = part_body(b.data, "text/plain");
    CHECK_STR(t, "--=_b0b0b0\r\n--=_b0b0b0--\r\n");
    free(t);
    mail_buf_free(&b);
}

TEST(message_text_only_without_html)
{
    mail_message m = sample();
    m.html = NULL;
    m.text = "caf\xC3\xA9";
    mail_buf b = {0};
    char err[128];
    CHECK(mail_build(&m, &b, err, sizeof(err)) == 0);
    CHECK(strstr(b.data, "multipart") == NULL);
    CHECK(strstr(b.data,
                 "\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                 "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n") != NULL);
    mail_buf_free(&b);
}

TEST(message_refuses_header_injection)
{
    char err[128];
    mail_buf b = {0};
    mail_message m = sample();
    m.to = "jane@example.com\r\nBcc: everyone@example.com";
    CHECK(mail_build(&m, &b, err, sizeof(err)) == -1);
    CHECK(strstr(err, "To") != NULL && strstr(err, "CR or LF") != NULL);
    m = sample();
    m.to = "jane@example.com\nBcc: everyone@example.com";
    CHECK(mail_build(&m, &b, err, sizeof(err)) == -1);
    m = sample();
    m.subject = "hello\r\nBcc: everyone@example.com";
    CHECK(mail_build(&m, &b, err, sizeof(err)) == -1);
    CHECK(strstr(err, "Subject") != NULL);
    m = sample();
    m.from = "honeyDue\r\nBcc: x@example.com <no-reply@honeydue.local>";
    CHECK(mail_build(&m, &b, err, sizeof(err)) == -1);
    CHECK(strstr(err, "From") != NULL);
    m = sample();
    m.to = "Jane\n <jane@example.com>";
    CHECK(mail_build(&m, &b, err, sizeof(err)) == -1);
    m = sample();
    m.subject = NULL;
    CHECK(mail_build(&m, &b, err, sizeof(err)) == -1);
    CHECK(strstr(err, "needs") != NULL);
    CHECK(b.len == 0);
    mail_buf_free(&b);
}

TEST(message_addresses)
{
    char err[128], v[256], d[256];
    mail_buf b = {0};
    mail_message m = sample();
    static const char *const bad[] = {"",
                                      "jane",
                                      "@example.com",
                                      "jane@",
                                      "jane@@example.com",
                                      "a@b@c.com",
                                      "jane doe@example.com",
                                      "<>",
                                      "Jane <>",
                                      "j\xC3\xA9@example.com",
                                      "jane@exa mple.com",
                                      "jane.@example.com",
                                      "Jane <jane@example.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m.to = bad[i];
        if (mail_build(&m, &b, err, sizeof(err)) != -1) {
            fprintf(stderr, "  accepted To: %s\n", bad[i]);
            *failed = 1;
        }
    }
    CHECK(b.len == 0);

    m.to = "  Jane Doe <jane.doe+home@example.com> ";
    CHECK(mail_build(&m, &b, err, sizeof(err)) == 0);
    char *h = unfolded_headers(b.data);
    CHECK(header_value(h, "To", v, sizeof(v)) == 0);
    CHECK_STR(v, "Jane Doe <jane.doe+home@example.com>");
    free(h);
    mail_buf_free(&b);

    m.to = "\"Doe, Jane \\\"JD\\\"\" <jd@example.com>";
    CHECK(mail_build(&m, &b, err, sizeof(err)) == 0);
    h = unfolded_headers(b.data);
    CHECK(header_value(h, "To", v, sizeof(v)) == 0);
    CHECK_STR(v, "\"Doe, Jane \\\"JD\\\"\" <jd@example.com>");
    free(h);
    mail_buf_free(&b);

    m.to = "J\xC3\xB6rg M\xC3\xBCller <jm@example.de>";
    m.from = "no-reply@mail.honeydue.example";
    CHECK(mail_build(&m, &b, err, sizeof(err)) == 0);
    h = unfolded_headers(b.data);
    CHECK(header_value(h, "To", v, sizeof(v)) == 0);
    char *lt = strstr(v, " <jm@example.de>");
    CHECK(lt != NULL);
    if (lt != NULL) {
        *lt = '\0';
        CHECK(decode_words(v, d, sizeof(d)) == 1);
        CHECK_STR(d, "J\xC3\xB6rg M\xC3\xBCller");
    }
    CHECK(header_value(h, "From", v, sizeof(v)) == 0);
    CHECK_STR(v, "no-reply@mail.honeydue.example");
    CHECK(header_value(h, "Message-ID", v, sizeof(v)) == 0);
    CHECK_STR(v, "<0123456789abcdef0123456789abcdef@mail.honeydue.example>");
    free(h);
    mail_buf_free(&b);
}

/* ---- HTML escaping ------------------------------------------------------- */

TEST(html_escape_from_arena_and_malloc)
{
    arena a;
    CHECK(arena_init(&a, 256) == 0);
    const char *in = "<a href=\"x\">Tom & Jerry's</a> \xC3\xA9";
    const char *want = "&lt;a href=&#34;x&#34;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt; \xC3\xA9";
    CHECK_STR(mail_html_escape(&a, in), want);
    CHECK_STR(mail_html_escape(&a, ""), "");
    char *m = mail_html_escape(NULL, in);
    CHECK_STR(m, want);
    free(m);
    m = mail_html_escape(NULL, "plain");
    CHECK_STR(m, "plain");
    free(m);
    arena_destroy(&a);
}

/* ---- configuration -------------------------------------------------------- */

/* Run mail_setup with SMTP_URL=URL, SMTP_FROM=FROM, stderr captured into
 * LOG (CAP bytes). Returns mail_setup's result. */
static int setup_with(const char *url, const char *from, char *log, size_t cap)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    if (tmp == NULL || saved < 0)
        return -2;
    dup2(fileno(tmp), STDERR_FILENO);
    if (url != NULL)
        setenv("SMTP_URL", url, 1);
    else
        unsetenv("SMTP_URL");
    setenv("SMTP_FROM", from, 1);
    int rc = config_load() == 0 ? mail_setup() : -3;
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(log, 1, cap - 1, tmp);
    log[n] = '\0';
    fclose(tmp);
    return rc;
}

TEST(setup_accepts_the_three_schemes_and_hides_the_password)
{
    char log[4096];
    const char *from = "honeyDue <no-reply@honeydue.local>";
    CHECK(setup_with("smtp://127.0.0.1:2525", from, log, sizeof(log)) == 0);
    CHECK(strstr(log, "smtp://127.0.0.1:2525 (no TLS)") != NULL);
    CHECK(setup_with("smtp+starttls://mailer:s3cr%40t-pw@mail.example.com", from, log,
                     sizeof(log)) == 0);
    CHECK(strstr(log, "smtp+starttls://mailer@mail.example.com:587 (STARTTLS required, AUTH)") !=
          NULL);
    CHECK(strstr(log, "s3cr") == NULL);
    CHECK(setup_with("smtps://mailer:s3cr3t-pw@mail.example.com", from, log, sizeof(log)) == 0);
    CHECK(strstr(log, ":465 (implicit TLS, AUTH)") != NULL);
    CHECK(strstr(log, "s3cr3t") == NULL);
    CHECK(setup_with("smtp://mailer:s3cr3t-pw@mail.example.com", from, log, sizeof(log)) == 0);
    CHECK(strstr(log, "in clear") != NULL); /* credentials without TLS: a warning */
    CHECK(strstr(log, "s3cr3t") == NULL);
    mail_shutdown();
}

TEST(setup_refuses_bad_values)
{
    char log[4096], err[256];
    const char *from = "no-reply@honeydue.local";
    CHECK(setup_with(NULL, from, log, sizeof(log)) == -1);
    CHECK(strstr(log, "missing required configuration: SMTP_URL") != NULL);
    CHECK(setup_with("http://mail.example.com", from, log, sizeof(log)) == -1);
    CHECK(setup_with("smtp://u:hunter2@mail.example.com?starttls=required", from, log,
                     sizeof(log)) == -1);
    CHECK(strstr(log, "smtp+starttls://") != NULL);
    CHECK(strstr(log, "hunter2") == NULL);
    CHECK(setup_with("smtp://", from, log, sizeof(log)) == -1);
    CHECK(strstr(log, "hunter2") == NULL);
    CHECK(setup_with("smtp://127.0.0.1:2525", "honeyDue <not an address>", log, sizeof(log)) == -1);
    CHECK(strstr(log, "SMTP_FROM") != NULL);
    /* A failed setup leaves the sender off, not half-configured. */
    CHECK(mail_send("jane@example.com", "s", "t", NULL, err, sizeof(err)) == -1);
    CHECK(strstr(err, "not configured") != NULL);
    mail_shutdown();
    unsetenv("SMTP_URL");
    unsetenv("SMTP_FROM");
}

TEST(mask_address_keeps_a_hint_only)
{
    char out[64];
    mail_mask_address("jane.doe@example.org", out, sizeof(out));
    CHECK_STR(out, "j***@e***.org");
    mail_mask_address("a@b.co.uk", out, sizeof(out));
    CHECK_STR(out, "a***@b***.uk");
    mail_mask_address("\xc3\xa9lise@d\xc3\xbcsseldorf.de", out, sizeof(out));
    CHECK_STR(out, "\xc3\xa9***@d***.de");
    mail_mask_address("root@localhost", out, sizeof(out));
    CHECK_STR(out, "r***@l***");
    mail_mask_address("no-at-sign", out, sizeof(out));
    CHECK_STR(out, "***@***");
    mail_mask_address("x@y.z", out, 6); /* cut, still terminated */
    CHECK_STR(out, "x***@");
}

RUN_TESTS()
