/*
 * mail.c - building RFC 5322 / MIME messages and sending them over SMTP
 * with libcurl (see mail.h for SMTP_URL's forms).
 *
 * The builder is pure: the caller supplies the time and the random parts,
 * so the unit tests can check every byte. The sender keeps one CURL handle
 * for the life of the process and resets it between sends; curl_easy_reset
 * keeps the handle's connection cache, so a burst of jobs to one server
 * uses one SMTP connection.
 */
#include "mail.h"
#include "config.h"
#include "log.h"

#include <curl/curl.h>
#include <sodium.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAIL_ADDR_MAX 256 /* RFC 5321 caps a path at 256 octets */
#define MAIL_NAME_MAX 256
#define MAIL_FOLD_AT 78      /* RFC 5322 2.1.1: SHOULD */
#define MAIL_QP_LINE 76      /* RFC 2045 6.7 (5) */
#define MAIL_EW_BYTES 45     /* 60 base64 characters: an encoded-word of 72 <= 75 */
#define MAIL_WORD_MAX 900    /* a longer unbroken ASCII run is encoded (998 is the limit) */
#define MAIL_CONNECT_MAX 10L /* s: the connect's share of SMTP_TIMEOUT_SECONDS at most */

/* ---- buffer ------------------------------------------------------------- */

void mail_buf_free(mail_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int buf_reserve(mail_buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int buf_add(mail_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int buf_str(mail_buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

static int buf_printf(mail_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(mail_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    /* clang-analyzer 14 misreads the va_start above */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && buf_reserve(b, (size_t)n) == 0)
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    else
        n = -1;
    va_end(ap2);
    if (n < 0)
        return -1;
    b->len += (size_t)n;
    return 0;
}

/* ---- quoted-printable ---------------------------------------------------- */

/* Length of the line break at S[I] (CRLF 2, LF 1), or 0. */
static size_t qp_break(const char *s, size_t len, size_t i)
{
    if (s[i] == '\n')
        return 1;
    if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
        return 2;
    return 0;
}

int mail_qp_encode(mail_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (size_t i = 0; i < len;) {
        size_t br = qp_break(s, len, i);
        if (br != 0) {
            if (buf_add(out, "\r\n", 2) != 0)
                return -1;
            col = 0;
            i += br;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        int last = i + 1 == len || qp_break(s, len, i + 1) != 0; /* last on its line */
        char tok[3];
        size_t n;
        if ((c >= '!' && c <= '~' && c != '=') || ((c == ' ' || c == '\t') && !last)) {
            tok[0] = (char)c;
            n = 1;
        } else {
            tok[0] = '=';
            tok[1] = hex[c >> 4];
            tok[2] = hex[c & 15];
            n = 3;
        }
        /* A line that goes on ends in '=', so its text stops at 75. */
        if (col + n > MAIL_QP_LINE || (!last && col + n > MAIL_QP_LINE - 1)) {
            if (buf_add(out, "=\r\n", 3) != 0)
                return -1;
            col = 0;
        }
        if (buf_add(out, tok, n) != 0)
            return -1;
        col += n;
        i++;
    }
    return 0;
}

/* ---- headers -------------------------------------------------------------- */

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (err == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* clang-analyzer 14 misreads the va_start above */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* 1 when S is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int utf8_valid(const unsigned char *s)
{
    while (*s != '\0') {
        unsigned c = *s;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, min = 0x10000;
        } else {
            return 0;
        }
        unsigned cp = c & (0x3F >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* 1 when S must become encoded-words: a byte outside printable ASCII (tab
 * aside), text a decoder would take for an encoded-word, or a run without
 * a space too long to fold. */
static int hdr_needs_encoding(const char *s)
{
    size_t run = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p < ' ' && *p != '\t') || *p >= 0x7F)
            return 1;
        if (p[0] == '=' && p[1] == '?')
            return 1;
        run = (*p == ' ' || *p == '\t') ? 0 : run + 1;
        if (run > MAIL_WORD_MAX)
            return 1;
    }
    return 0;
}

/* Append S as "=?UTF-8?B?...?=" words, each on its own folded line after the
 * first. S is valid UTF-8; a chunk never ends inside a character. */
static int hdr_encoded_words(mail_buf *out, const char *s)
{
    size_t len = strlen(s), i = 0;
    do {
        size_t n = len - i < MAIL_EW_BYTES ? len - i : MAIL_EW_BYTES;
        size_t k = n;
        while (i + k < len && k > 0 && ((unsigned char)s[i + k] & 0xC0) == 0x80)
            k--; /* back off to the start of the character that straddles */
        if (k > 0)
            n = k;
        char b64[sodium_base64_ENCODED_LEN(MAIL_EW_BYTES, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)s + i, n,
                          sodium_base64_VARIANT_ORIGINAL);
        if ((i > 0 && buf_add(out, "\r\n ", 3) != 0) || buf_printf(out, "=?UTF-8?B?%s?=", b64) != 0)
            return -1;
        i += n;
    } while (i < len);
    return 0;
}

/* Append ASCII S folded before a space wherever a line would pass 78
 * columns (COL is where S starts). Only a space followed by more text is a
 * fold point, so no line is all whitespace. */
static int hdr_folded(mail_buf *out, const char *s, size_t col)
{
    const char *p = s;
    while (*p != '\0') {
        /* One token: the spaces before a word, and the word. */
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        int has_word = *q != '\0';
        while (*q != '\0' && *q != ' ' && *q != '\t')
            q++;
        size_t n = (size_t)(q - p);
        if (p != s && has_word && col + n > MAIL_FOLD_AT) {
            if (buf_add(out, "\r\n", 2) != 0)
                return -1;
            col = 0;
        }
        if (buf_add(out, p, n) != 0)
            return -1;
        col += n;
        p = q;
    }
    return 0;
}

/* Check that header text VALUE (of header NAME) cannot inject a header. */
static int hdr_check(const char *name, const char *value, char *err, size_t errcap)
{
    if (strpbrk(value, "\r\n") != NULL) {
        set_err(err, errcap, "%s contains a CR or LF (header injection refused)", name);
        return -1;
    }
    if (!utf8_valid((const unsigned char *)value)) {
        set_err(err, errcap, "%s is not valid UTF-8", name);
        return -1;
    }
    return 0;
}

int mail_header(mail_buf *out, const char *name, const char *value, char *err, size_t errcap)
{
    if (hdr_check(name, value, err, errcap) != 0)
        return -1;
    int rc;
    if (*value == '\0')
        rc = buf_printf(out, "%s:", name);
    else if (hdr_needs_encoding(value))
        rc = buf_printf(out, "%s: ", name) != 0 || hdr_encoded_words(out, value) != 0;
    else
        rc = buf_printf(out, "%s: ", name) != 0 || hdr_folded(out, value, strlen(name) + 2) != 0;
    if (rc != 0 || buf_add(out, "\r\n", 2) != 0) {
        set_err(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

void mail_date(time_t t, char *out, size_t cap)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, cap, "Thu, 01 Jan 1970 00:00:00 +0000");
        return;
    }
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- addresses ---------------------------------------------------------- */

static int addr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

/* 1 when A is a plain addr-spec: dot-atom local part, '@', a domain of
 * letters, digits, '-' and '.'. Quoted local parts and non-ASCII
 * (SMTPUTF8) addresses are not supported. */
static int addr_valid(const char *a)
{
    const char *at = strchr(a, '@');
    if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return 0;
    if (a[0] == '.' || at[-1] == '.' || at[1] == '.' || a[strlen(a) - 1] == '.')
        return 0;
    for (const char *p = a; p < at; p++)
        if (!addr_char((unsigned char)*p))
            return 0;
    for (const char *p = at + 1; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* Split SPEC ("Name <addr>", "\"Name\" <addr>" or "addr") of header WHAT
 * into NAME (may end up empty) and ADDR. Returns 0, or -1 with ERR. */
static int addr_parse(const char *what, const char *spec, char *name, char *addr, char *err,
                      size_t errcap)
{
    if (hdr_check(what, spec, err, errcap) != 0)
        return -1;
    while (*spec == ' ' || *spec == '\t')
        spec++;
    size_t len = strlen(spec);
    while (len > 0 && (spec[len - 1] == ' ' || spec[len - 1] == '\t'))
        len--;
    const char *lt = len > 0 && spec[len - 1] == '>' ? memrchr(spec, '<', len) : NULL;
    name[0] = '\0';
    if (lt != NULL) {
        size_t nlen = (size_t)(lt - spec), alen = len - nlen - 2;
        while (nlen > 0 && (spec[nlen - 1] == ' ' || spec[nlen - 1] == '\t'))
            nlen--;
        if (nlen >= MAIL_NAME_MAX) {
            set_err(err, errcap, "%s: display name too long", what);
            return -1;
        }
        if (nlen >= 2 && spec[0] == '"' && spec[nlen - 1] == '"') {
            /* A quoted display name: drop the quotes and the backslashes. */
            size_t k = 0;
            for (size_t i = 1; i + 1 < nlen; i++) {
                if (spec[i] == '\\' && i + 2 < nlen)
                    i++;
                name[k++] = spec[i];
            }
            name[k] = '\0';
        } else {
            memcpy(name, spec, nlen);
            name[nlen] = '\0';
        }
        spec = lt + 1;
        len = alen;
    }
    if (len == 0 || len >= MAIL_ADDR_MAX) {
        set_err(err, errcap, "%s: no address, or one too long", what);
        return -1;
    }
    memcpy(addr, spec, len);
    addr[len] = '\0';
    if (!addr_valid(addr)) {
        set_err(err, errcap, "%s: not an address of the form local@domain", what);
        return -1;
    }
    return 0;
}

/* Append "WHAT: name <addr>" CRLF; the name quoted or encoded as it needs. */
static int hdr_address(mail_buf *out, const char *what, const char *name, const char *addr)
{
    int rc = buf_printf(out, "%s: ", what);
    if (*name == '\0') {
        rc = rc || buf_str(out, addr);
    } else {
        if (hdr_needs_encoding(name)) {
            rc = rc || hdr_encoded_words(out, name);
        } else if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "!#$%&'*+-/=?^_`{|}~ ") == strlen(name)) {
            rc = rc || buf_str(out, name);
        } else {
            rc = rc || buf_add(out, "\"", 1);
            for (const char *p = name; *p != '\0' && rc == 0; p++)
                rc = (*p == '"' || *p == '\\') ? buf_printf(out, "\\%c", *p) : buf_add(out, p, 1);
            rc = rc || buf_add(out, "\"", 1);
        }
        rc = rc || buf_printf(out, " <%s>", addr);
    }
    return rc || buf_add(out, "\r\n", 2) ? -1 : 0;
}

/* ---- the message ---------------------------------------------------------- */

static int mime_part(mail_buf *out, const char *boundary, const char *type, const char *body)
{
    if (buf_printf(out,
                   "\r\n--=_%s\r\n"
                   "Content-Type: %s; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                   boundary, type) != 0)
        return -1;
    return mail_qp_encode(out, body, strlen(body));
}

int mail_build(const mail_message *m, mail_buf *out, char *err, size_t errcap)
{
    char fname[MAIL_NAME_MAX], faddr[MAIL_ADDR_MAX], tname[MAIL_NAME_MAX], taddr[MAIL_ADDR_MAX];
    char date[64];
    size_t start = out->len;
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (m->from == NULL || m->to == NULL || m->subject == NULL || m->text == NULL ||
        m->message_id == NULL || m->boundary == NULL) {
        set_err(err, errcap, "a message needs from, to, subject and text");
        return -1;
    }
    if (addr_parse("From", m->from, fname, faddr, err, errcap) != 0 ||
        addr_parse("To", m->to, tname, taddr, err, errcap) != 0 ||
        hdr_check("Subject", m->subject, err, errcap) != 0 ||
        hdr_check("From display name", fname, err, errcap) != 0 ||
        hdr_check("To display name", tname, err, errcap) != 0)
        return -1;
    mail_date(m->date, date, sizeof(date));
    int rc = buf_printf(out, "Date: %s\r\nMessage-ID: <%s@%s>\r\n", date, m->message_id,
                        strchr(faddr, '@') + 1) != 0 ||
             hdr_address(out, "From", fname, faddr) != 0 ||
             hdr_address(out, "To", tname, taddr) != 0 ||
             mail_header(out, "Subject", m->subject, err, errcap) != 0 ||
             buf_str(out, "MIME-Version: 1.0\r\n") != 0;
    if (rc == 0 && m->html != NULL) {
        rc = buf_printf(out,
                        "Content-Type: multipart/alternative; boundary=\"=_%s\"\r\n\r\n"
                        "This is a multi-part message in MIME format.\r\n",
                        m->boundary) != 0 ||
             mime_part(out, m->boundary, "text/plain", m->text) != 0 ||
             mime_part(out, m->boundary, "text/html", m->html) != 0 ||
             buf_printf(out, "\r\n--=_%s--\r\n", m->boundary) != 0;
    } else if (rc == 0) {
        rc = buf_str(out, "Content-Type: text/plain; charset=UTF-8\r\n"
                          "Content-Transfer-Encoding: quoted-printable\r\n\r\n") != 0 ||
             mail_qp_encode(out, m->text, strlen(m->text)) != 0 || buf_str(out, "\r\n") != 0;
    }
    if (rc != 0) {
        if (out->data != NULL) {
            out->len = start;
            out->data[start] = '\0';
        }
        if (err != NULL && errcap > 0 && err[0] == '\0')
            set_err(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

/* The length of the UTF-8 character S starts with (1 for a stray byte). */
static size_t utf8_char_len(const char *s)
{
    size_t n = 1;
    while (s[n] != '\0' && ((unsigned char)s[n] & 0xC0) == 0x80 && n < 4)
        n++;
    return n;
}

void mail_mask_address(const char *addr, char *out, size_t cap)
{
    const char *at = strrchr(addr, '@');
    const char *domain = at != NULL ? at + 1 : "";
    const char *dot = strrchr(domain, '.');
    size_t l = at != NULL && at > addr ? utf8_char_len(addr) : 0;
    size_t d = *domain != '\0' && domain != dot ? utf8_char_len(domain) : 0;
    if (cap == 0)
        return;
    snprintf(out, cap, "%.*s***@%.*s***%s", (int)l, addr, (int)d, domain, dot != NULL ? dot : "");
}

char *mail_html_escape(arena *a, const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p != '\0'; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : (*p == '"' || *p == '\'') ? 5 : 1;
    char *out = a != NULL ? arena_alloc(a, n) : malloc(n);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *p = s; *p != '\0'; p++) {
        const char *e = *p == '&'    ? "&amp;"
                        : *p == '<'  ? "&lt;"
                        : *p == '>'  ? "&gt;"
                        : *p == '"'  ? "&#34;"
                        : *p == '\'' ? "&#39;"
                                     : NULL;
        if (e == NULL) {
            *o++ = *p;
        } else {
            size_t k = strlen(e);
            memcpy(o, e, k);
            o += k;
        }
    }
    *o = '\0';
    return out;
}

/* ---- the sender ------------------------------------------------------------ */

static struct {
    int ready;
    int curl_global;
    CURL *curl;
    char *url;   /* scheme://host:port[/ehlo], no credentials */
    char *shown; /* the same with user@, for log lines */
    char *user;  /* NULL: no AUTH */
    char *pass;
    int starttls;
    char *from;    /* SMTP_FROM as configured */
    char *ca_file; /* SMTP_CA_FILE: trust this CA bundle instead of the system's */
    char from_addr[MAIL_ADDR_MAX];
    long timeout;
    long connections; /* opened so far */
    int reply_code;   /* see mail_last_reply_code */
    char reply[256];  /* the server's last refusal in this send, or "" */
} mail;

static void mail_clear_config(void)
{
    free(mail.url);
    free(mail.shown);
    free(mail.user);
    if (mail.pass != NULL)
        sodium_memzero(mail.pass, strlen(mail.pass));
    free(mail.pass);
    free(mail.from);
    free(mail.ca_file);
    mail.url = mail.shown = mail.user = mail.pass = mail.from = mail.ca_file = NULL;
    mail.ready = 0;
}

/* Part PART of U, decoded, as a malloc'd string, or NULL when absent. */
static char *url_part(CURLU *u, CURLUPart part)
{
    char *v = NULL, *copy = NULL;
    if (curl_url_get(u, part, &v,
                     part == CURLUPART_USER || part == CURLUPART_PASSWORD ? CURLU_URLDECODE : 0) ==
            CURLUE_OK &&
        v != NULL)
        copy = strdup(v);
    curl_free(v);
    return copy;
}

/* Parse SMTP_URL into mail.url, .user, .pass, .starttls. Logs and returns -1
 * on error, never showing the URL (it may hold the password). */
static int mail_parse_url(const char *text)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *frag = NULL;
    int rc = -1;
    if (u == NULL)
        goto done;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, text, CURLU_NON_SUPPORT_SCHEME);
    if (uc != CURLUE_OK) {
        log_line(LOG_ERROR, "mail", "SMTP_URL is not a valid URL (%s)", curl_url_strerror(uc));
        goto done;
    }
    scheme = url_part(u, CURLUPART_SCHEME);
    host = url_part(u, CURLUPART_HOST);
    port = url_part(u, CURLUPART_PORT);
    path = url_part(u, CURLUPART_PATH);
    query = url_part(u, CURLUPART_QUERY);
    frag = url_part(u, CURLUPART_FRAGMENT);
    mail.user = url_part(u, CURLUPART_USER);
    mail.pass = url_part(u, CURLUPART_PASSWORD);
    const char *base, *defport;
    if (scheme != NULL && strcmp(scheme, "smtp") == 0) {
        base = "smtp", defport = "25", mail.starttls = 0;
    } else if (scheme != NULL && strcmp(scheme, "smtp+starttls") == 0) {
        base = "smtp", defport = "587", mail.starttls = 1;
    } else if (scheme != NULL && strcmp(scheme, "smtps") == 0) {
        base = "smtps", defport = "465", mail.starttls = 0;
    } else {
        log_line(LOG_ERROR, "mail", "SMTP_URL: the scheme must be smtp, smtp+starttls or smtps");
        goto done;
    }
    if (host == NULL || *host == '\0') {
        log_line(LOG_ERROR, "mail", "SMTP_URL: no host");
        goto done;
    }
    if (query != NULL || frag != NULL) {
        log_line(LOG_ERROR, "mail",
                 "SMTP_URL: no query or fragment is understood (STARTTLS is the "
                 "smtp+starttls:// scheme)");
        goto done;
    }
    if (mail.user != NULL && *mail.user == '\0') {
        free(mail.user);
        mail.user = NULL;
    }
    const char *ehlo = path != NULL && strcmp(path, "/") != 0 ? path : "";
    const char *p = port != NULL ? port : defport;
    if (asprintf(&mail.url, "%s://%s:%s%s", base, host, p, ehlo) < 0) {
        mail.url = NULL;
        goto done;
    }
    if (asprintf(&mail.shown, "%s://%s%s%s:%s%s", scheme, mail.user ? mail.user : "",
                 mail.user ? "@" : "", host, p, ehlo) < 0) {
        mail.shown = NULL;
        goto done;
    }
    rc = 0;
done:
    free(scheme);
    free(host);
    free(port);
    free(path);
    free(query);
    free(frag);
    curl_url_cleanup(u);
    return rc;
}

int mail_setup(void)
{
    static const char *const required[] = {"SMTP_URL", "SMTP_FROM", NULL};
    char err[256] = "", name[MAIL_NAME_MAX];
    mail_clear_config();
    if (config_require(required) != 0)
        return -1;
    if (sodium_init() < 0) {
        log_line(LOG_ERROR, "mail", "libsodium did not start");
        return -1;
    }
    if (!mail.curl_global) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            log_line(LOG_ERROR, "mail", "libcurl did not start");
            return -1;
        }
        mail.curl_global = 1;
    }
    if (mail.curl == NULL && (mail.curl = curl_easy_init()) == NULL) {
        log_line(LOG_ERROR, "mail", "libcurl: no handle");
        return -1;
    }
    if (mail_parse_url(config_get("SMTP_URL")) != 0)
        goto fail;
    if (addr_parse("SMTP_FROM", config_get("SMTP_FROM"), name, mail.from_addr, err, sizeof(err)) !=
        0) {
        log_line(LOG_ERROR, "mail", "%s", err);
        goto fail;
    }
    if ((mail.from = strdup(config_get("SMTP_FROM"))) == NULL)
        goto fail;
    const char *ca = config_get("SMTP_CA_FILE");
    if (ca != NULL && *ca != '\0') {
        if (access(ca, R_OK) != 0) {
            log_line(LOG_ERROR, "mail", "SMTP_CA_FILE %s: %s", ca, strerror(errno));
            goto fail;
        }
        if ((mail.ca_file = strdup(ca)) == NULL)
            goto fail;
    }
    mail.timeout = config_int("SMTP_TIMEOUT_SECONDS", 30);
    if (mail.timeout <= 0)
        mail.timeout = 30;
    int implicit = strncmp(mail.url, "smtps:", 6) == 0;
    log_line(LOG_INFO, "mail", "smtp server %s (%s%s), from %s, timeout %ld s", mail.shown,
             mail.starttls ? "STARTTLS required"
             : implicit    ? "implicit TLS"
                           : "no TLS",
             mail.user ? ", AUTH" : "", mail.from_addr, mail.timeout);
    if (mail.user != NULL && !mail.starttls && !implicit)
        log_line(LOG_WARN, "mail",
                 "SMTP_URL has credentials but no TLS: they cross the network in clear "
                 "(use smtp+starttls:// or smtps://)");
    mail.ready = 1;
    return 0;
fail:
    mail_clear_config();
    return -1;
}

struct mail_source {
    const char *data;
    size_t len, off;
};

static size_t mail_read(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct mail_source *src = userdata;
    size_t n = size * nmemb, left = src->len - src->off;
    if (n > left)
        n = left;
    memcpy(ptr, src->data + src->off, n);
    src->off += n;
    return n;
}

/* libcurl hands every SMTP reply line to the header callback: keep the
 * last refusal (4xx, 5xx). Not simply the last line: after a refused RCPT
 * libcurl sends QUIT, and "221 Bye" says nothing. */
static size_t mail_reply_line(char *buf, size_t size, size_t nitems, void *userdata)
{
    size_t n = size * nitems, k = n;
    while (k > 0 && (buf[k - 1] == '\r' || buf[k - 1] == '\n'))
        k--;
    if (k >= 3 && (buf[0] == '4' || buf[0] == '5') && buf[1] >= '0' && buf[1] <= '9' &&
        buf[2] >= '0' && buf[2] <= '9') {
        if (k >= sizeof(mail.reply))
            k = sizeof(mail.reply) - 1;
        memcpy(mail.reply, buf, k);
        mail.reply[k] = '\0';
    }
    return n;
}

int mail_send(const char *to, const char *subject, const char *text, const char *html, char *err,
              size_t errcap)
{
    mail_buf msg = {0};
    struct curl_slist *rcpt = NULL;
    char tname[MAIL_NAME_MAX], taddr[MAIL_ADDR_MAX], envelope[MAIL_ADDR_MAX + 2];
    char sender[MAIL_ADDR_MAX + 2], curl_err[CURL_ERROR_SIZE] = "";
    CURL *c = mail.curl;
    int rc = -1;
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (!mail.ready) {
        set_err(err, errcap, "mail is not configured (mail_setup failed or was not called)");
        return -1;
    }
    if (to == NULL || addr_parse("To", to, tname, taddr, err, errcap) != 0) {
        if (to == NULL)
            set_err(err, errcap, "a message needs from, to, subject and text");
        return -1;
    }

    unsigned char raw[16];
    char id[33], boundary[33];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(id, sizeof(id), raw, sizeof(raw));
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(boundary, sizeof(boundary), raw, sizeof(raw));
    mail_message m = {mail.from, to, subject, text, html, time(NULL), id, boundary};
    if (mail_build(&m, &msg, err, errcap) != 0)
        goto done;

    snprintf(envelope, sizeof(envelope), "<%s>", taddr);
    snprintf(sender, sizeof(sender), "<%s>", mail.from_addr);
    if ((rcpt = curl_slist_append(NULL, envelope)) == NULL) {
        set_err(err, errcap, "out of memory");
        goto done;
    }
    struct mail_source src = {msg.data, msg.len, 0};
    long connect = mail.timeout < MAIL_CONNECT_MAX ? mail.timeout : MAIL_CONNECT_MAX;
    mail.reply[0] = '\0';
    mail.reply_code = 0;
    curl_easy_reset(c);
    CURLcode cc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
#define MAIL_OPT(opt, val)                                                                         \
    if (cc == CURLE_OK)                                                                            \
    cc = curl_easy_setopt(c, opt, val)
    MAIL_OPT(CURLOPT_URL, mail.url);
    MAIL_OPT(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    MAIL_OPT(CURLOPT_NOSIGNAL, 1L);
    MAIL_OPT(CURLOPT_CONNECTTIMEOUT, connect);
    MAIL_OPT(CURLOPT_TIMEOUT, mail.timeout);
    MAIL_OPT(CURLOPT_USE_SSL, mail.starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    if (mail.ca_file != NULL)
        MAIL_OPT(CURLOPT_CAINFO, mail.ca_file);
    if (mail.user != NULL) {
        MAIL_OPT(CURLOPT_USERNAME, mail.user);
        MAIL_OPT(CURLOPT_PASSWORD, mail.pass ? mail.pass : "");
    }
    MAIL_OPT(CURLOPT_MAIL_FROM, sender);
    MAIL_OPT(CURLOPT_MAIL_RCPT, rcpt);
    MAIL_OPT(CURLOPT_UPLOAD, 1L);
    MAIL_OPT(CURLOPT_READFUNCTION, mail_read);
    MAIL_OPT(CURLOPT_READDATA, &src);
    MAIL_OPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
    MAIL_OPT(CURLOPT_HEADERFUNCTION, mail_reply_line);
#undef MAIL_OPT
    if (cc == CURLE_OK) {
        long opened = 0;
        cc = curl_easy_perform(c);
        if (curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &opened) == CURLE_OK)
            mail.connections += opened;
    }
    long code = 0;
    if (cc == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
        mail.reply_code = (int)code;
    else if (cc != CURLE_OK && mail.reply[0] != '\0')
        mail.reply_code = atoi(mail.reply);
    if (cc != CURLE_OK) {
        const char *what = curl_err[0] != '\0' ? curl_err : curl_easy_strerror(cc);
        /* The server's refusal says the most. */
        if (mail.reply[0] != '\0')
            set_err(err, errcap, "%s (libcurl: %s)", mail.reply, what);
        else
            set_err(err, errcap, "%s", what);
        goto done;
    }
    rc = 0;
done:
    /* The handle points at this frame's buffers (the error buffer, the
     * message, the recipients): drop the options, keep the connection. */
    if (c != NULL)
        curl_easy_reset(c);
    curl_slist_free_all(rcpt);
    mail_buf_free(&msg);
    return rc;
}

int mail_last_reply_code(void)
{
    return mail.reply_code;
}

long mail_connections(void)
{
    return mail.connections;
}

void mail_shutdown(void)
{
    mail_clear_config();
    if (mail.curl != NULL)
        curl_easy_cleanup(mail.curl);
    mail.curl = NULL;
    if (mail.curl_global)
        curl_global_cleanup();
    mail.curl_global = 0;
}
