/*
 * email.c - the email jobs: email.welcome, email.verify,
 * email.password_reset, email.address_changed, email.notification and
 * email.digest. Each builds
 * a plain-text and an HTML part from its payload (user data is escaped in
 * the HTML) and sends them over SMTP (fcgi-app/mail.h). A refusal the
 * server says is permanent (5xx) ends the job; anything else is retried.
 *
 * Nothing but a code goes to an address nobody proved: the welcome,
 * notification and digest mails are sent only when their address is, as
 * they are about to go, the verified address of an active user (read from
 * Postgres then, so a change since the job was queued counts); otherwise
 * the job ends without sending. The code mails (verify, reset) go to
 * unverified addresses, that is their point, and carry no text a user
 * wrote (no name). The address-change notice goes to the address the user
 * just left, which the API checked was verified.
 */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "log.h"
#include "mail.h"

#include <sodium.h>

static const char *str(json_object *p, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(p, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* A growing string (open_memstream). */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} text;

static void text_open(text *t)
{
    t->buf = NULL;
    t->len = 0;
    t->f = open_memstream(&t->buf, &t->len);
}

static char *text_close(text *t)
{
    if (t->f != NULL)
        fclose(t->f);
    t->f = NULL;
    return t->buf;
}

/* HTML-escaped S, written to F. */
static void html(FILE *f, const char *s)
{
    char *e = mail_html_escape(NULL, s ? s : "");
    if (e != NULL)
        fputs(e, f);
    free(e);
}

static int deliver(const char *to, const char *subject, const char *body_text,
                   const char *body_html, char *err, size_t errcap)
{
    if (body_text == NULL || body_html == NULL) {
        snprintf(err, errcap, "out of memory");
        return JOB_RETRY;
    }
    if (mail_send(to, subject, body_text, body_html, err, errcap) == 0)
        return JOB_OK;
    int code = mail_last_reply_code();
    return code >= 500 && code < 600 ? JOB_FATAL : JOB_RETRY;
}

/* Whether mail may go to TO now: 1 when TO is the verified address of an
 * active user (of P's "user_id" when it names one); 0 when not (logged
 * without the address; the job then ends as done); -1 when the database
 * could not say (the reason in ERR: retry). */
static int verified_recipient(const job_ctx *c, json_object *p, const char *to, char *err,
                              size_t errcap)
{
    json_object *v;
    char uid[24];
    const char *params[] = {NULL, to};
    if (json_object_object_get_ex(p, "user_id", &v) && json_object_is_type(v, json_type_int)) {
        snprintf(uid, sizeof(uid), "%lld", (long long)json_object_get_int64(v));
        params[0] = uid;
    }
    char state[6] = "";
    PGresult *res = db_exec("jobs_mail_recipient", 2, params, state, NULL);
    if (res == NULL) {
        snprintf(err, errcap, "jobs_mail_recipient failed (sqlstate %s)", state[0] ? state : "none");
        return -1;
    }
    int ok = PQntuples(res) == 1;
    PQclear(res);
    if (!ok)
        log_line(LOG_INFO, "email", "job %s (%s) not sent: its address is not a verified one",
                 c->id ? c->id : "-", c->type);
    return ok;
}

/* The gate of the mails that only go to verified addresses: JOB_OK (done,
 * nothing sent) or JOB_RETRY when TO may not get them now, else 1. */
static int gate(const job_ctx *c, json_object *p, const char *to, char *err, size_t errcap)
{
    if (to == NULL)
        return 1; /* the template refuses the payload */
    int v = verified_recipient(c, p, to, err, errcap);
    return v > 0 ? 1 : v == 0 ? JOB_OK : JOB_RETRY;
}

static const char html_head[] =
    "<!doctype html><html><body style=\"font-family:sans-serif;color:#222\">";
static const char html_foot[] = "<p style=\"color:#888;font-size:12px\">honeyDue &mdash; the "
                                "upkeep of your home, shared.</p></body></html>";

/* Welcome, verification and reset: a greeting, a sentence, maybe a code.
 * The code comes sealed for job C's type and the address (crypto_seal):
 * one that does not open (another key, job or address, or altered) ends
 * the job, and the error says so without the code. A code in clear (an
 * older API's) is refused likewise. */
static int simple(const job_ctx *c, json_object *p, const char *subject, const char *line,
                  int with_code, char *err, size_t errcap)
{
    const char *to = str(p, "to"), *name = str(p, "name"), *sealed = str(p, "sealed_code");
    char code[CRYPTO_SEAL_MSG_MAX + 1] = "";
    if (to == NULL || (with_code && sealed == NULL)) {
        snprintf(err, errcap, "payload needs to%s", with_code ? " and sealed_code" : "");
        return JOB_FATAL;
    }
    const char *ctx[] = {c->type, to};
    if (with_code && crypto_open(ctx, 2, sealed, code, sizeof(code)) != 0) {
        snprintf(err, errcap, "the sealed code does not open (another SECRET_KEY, job or address)");
        return JOB_FATAL;
    }
    text t, h;
    text_open(&t);
    text_open(&h);
    if (t.f == NULL || h.f == NULL) {
        text_close(&t);
        text_close(&h);
        free(t.buf);
        free(h.buf);
        sodium_memzero(code, sizeof(code));
        snprintf(err, errcap, "out of memory");
        return JOB_RETRY;
    }
    int named = name != NULL && *name != '\0';
    fprintf(t.f, "Hello%s%s,\n\n%s\n", named ? " " : "", named ? name : "", line);
    fprintf(h.f, "%s<p>Hello%s", html_head, named ? " " : "");
    html(h.f, named ? name : "");
    fprintf(h.f, ",</p><p>%s</p>", line);
    if (with_code) {
        const char *exp = str(p, "expires_at");
        fprintf(t.f, "\n    %s\n\n", code);
        fprintf(h.f, "<p style=\"font-size:28px;letter-spacing:4px\"><b>");
        html(h.f, code);
        fprintf(h.f, "</b></p>");
        if (exp != NULL) {
            fprintf(t.f, "It works until %s.\n", exp);
            fprintf(h.f, "<p>It works until ");
            html(h.f, exp);
            fprintf(h.f, ".</p>");
        }
        fprintf(t.f, "If you did not ask for it, ignore this email.\n");
        fprintf(h.f, "<p>If you did not ask for it, ignore this email.</p>");
    }
    fprintf(h.f, "%s", html_foot);
    char *bt = text_close(&t), *bh = text_close(&h);
    int rc = deliver(to, subject, bt, bh, err, errcap);
    sodium_memzero(code, sizeof(code));
    if (bt != NULL)
        sodium_memzero(bt, strlen(bt));
    if (bh != NULL)
        sodium_memzero(bh, strlen(bh));
    free(bt);
    free(bh);
    return rc;
}

int job_email_welcome(const job_ctx *c, json_object *p, char *err, size_t errcap)
{
    /* No longer queued (the sign-up's code mail welcomes): one queued by an
     * older API still waits for a verified address. */
    int g = gate(c, p, str(p, "to"), err, errcap);
    if (g != 1)
        return g;
    return simple(c, p, "Welcome to honeyDue",
                  "Welcome to honeyDue. Add your home, share it with your family, and never "
                  "miss the upkeep that keeps it in shape.",
                  0, err, errcap);
}

/* {"welcome": true} marks the sign-up's: the one mail a new account gets
 * before its address is verified. */
int job_email_verify(const job_ctx *c, json_object *p, char *err, size_t errcap)
{
    json_object *w;
    if (json_object_object_get_ex(p, "welcome", &w) && json_object_get_boolean(w))
        return simple(c, p, "Welcome to honeyDue: confirm your email address",
                      "Welcome to honeyDue. Add your home, share it with your family, and never "
                      "miss the upkeep that keeps it in shape. Enter this code in the app to "
                      "confirm your email address:",
                      1, err, errcap);
    return simple(c, p, "Your honeyDue verification code",
                  "Enter this code in the app to confirm your email address:", 1, err, errcap);
}

int job_email_password_reset(const job_ctx *c, json_object *p, char *err, size_t errcap)
{
    return simple(c, p, "Your honeyDue password reset code",
                  "Enter this code in the app to choose a new password:", 1, err, errcap);
}

/* The notice to the address an account had until the user changed it:
 * {to, new_address (masked by the API), changed_at}. */
int job_email_address_changed(const job_ctx *c, json_object *p, char *err, size_t errcap)
{
    (void)c;
    const char *to = str(p, "to"), *masked = str(p, "new_address"), *when = str(p, "changed_at");
    if (to == NULL || masked == NULL || when == NULL) {
        snprintf(err, errcap, "payload needs to, new_address and changed_at");
        return JOB_FATAL;
    }
    static const char advice[] =
        "If you did not make this change, someone who knows your password did: sign in to "
        "honeyDue now, change your password (every other session ends with it) and set your "
        "email address back. If you cannot sign in any more, reply to this email.";
    text t, h;
    text_open(&t);
    text_open(&h);
    if (t.f != NULL && h.f != NULL) {
        fprintf(t.f,
                "Hello,\n\nThe email address of your honeyDue account was changed to %s on "
                "%s. This address will get no more email from honeyDue.\n\n%s\n",
                masked, when, advice);
        fprintf(h.f, "%s<p>Hello,</p><p>The email address of your honeyDue account was changed to "
                     "<b>", html_head);
        html(h.f, masked);
        fprintf(h.f, "</b> on ");
        html(h.f, when);
        fprintf(h.f, ". This address will get no more email from honeyDue.</p><p>%s</p>%s", advice,
                html_foot);
    }
    char *bt = text_close(&t), *bh = text_close(&h);
    int rc = deliver(to, "Your honeyDue email address was changed", bt, bh, err, errcap);
    free(bt);
    free(bh);
    return rc;
}

/* A feed notification sent by email too (notify.c): subject and text. */
int job_email_notification(const job_ctx *c, json_object *p, char *err, size_t errcap)
{
    const char *to = str(p, "to"), *name = str(p, "name"), *subject = str(p, "subject"),
               *body = str(p, "text");
    if (to == NULL || subject == NULL || body == NULL) {
        snprintf(err, errcap, "payload needs to, subject and text");
        return JOB_FATAL;
    }
    int g = gate(c, p, to, err, errcap);
    if (g != 1)
        return g;
    text t, h;
    text_open(&t);
    text_open(&h);
    if (t.f != NULL && h.f != NULL) {
        fprintf(t.f, "Hello %s,\n\n%s\n", name ? name : "", body);
        fprintf(h.f, "%s<p>Hello ", html_head);
        html(h.f, name);
        fprintf(h.f, ",</p><p>");
        html(h.f, body);
        fprintf(h.f, "</p>%s", html_foot);
    }
    char *bt = text_close(&t), *bh = text_close(&h);
    int rc = deliver(to, subject, bt, bh, err, errcap);
    free(bt);
    free(bh);
    return rc;
}

/* The daily digest: today's and overdue tasks (reminders.c). */
int job_email_digest(const job_ctx *c, json_object *p, char *err, size_t errcap)
{
    const char *to = str(p, "to"), *name = str(p, "name"), *day = str(p, "local_date");
    json_object *tasks;
    if (to == NULL || day == NULL || !json_object_object_get_ex(p, "tasks", &tasks) ||
        !json_object_is_type(tasks, json_type_array)) {
        snprintf(err, errcap, "payload needs to, local_date and tasks");
        return JOB_FATAL;
    }
    int g = gate(c, p, to, err, errcap);
    if (g != 1)
        return g;
    size_t n = json_object_array_length(tasks);
    char subject[128];
    snprintf(subject, sizeof(subject), "honeyDue: %zu task%s for %s", n, n == 1 ? "" : "s", day);
    text t, h;
    text_open(&t);
    text_open(&h);
    if (t.f != NULL && h.f != NULL) {
        fprintf(t.f, "Hello %s,\n\nHere is what is due today (%s) and what is overdue:\n\n",
                name ? name : "", day);
        fprintf(h.f, "%s<p>Hello ", html_head);
        html(h.f, name);
        fprintf(h.f, ",</p><p>Here is what is due today (");
        html(h.f, day);
        fprintf(h.f, ") and what is overdue:</p><ul>");
        for (size_t i = 0; i < n; i++) {
            json_object *task = json_object_array_get_idx(tasks, i), *o;
            int overdue =
                json_object_object_get_ex(task, "overdue", &o) && json_object_get_boolean(o);
            const char *title = str(task, "title"), *due = str(task, "due_date"),
                       *where = str(task, "residence");
            fprintf(t.f, "- %s (%s, %s%s)\n", title ? title : "", where ? where : "",
                    overdue ? "overdue since " : "due ", due ? due : "");
            fprintf(h.f, "<li><b>");
            html(h.f, title);
            fprintf(h.f, "</b> &mdash; ");
            html(h.f, where);
            fprintf(h.f, ", %s", overdue ? "<span style=\"color:#b00\">overdue since " : "due ");
            html(h.f, due);
            fprintf(h.f, "%s</li>", overdue ? "</span>" : "");
        }
        fprintf(t.f, "\nOpen honeyDue to mark them done.\n");
        fprintf(h.f, "</ul><p>Open honeyDue to mark them done.</p>%s", html_foot);
    }
    char *bt = text_close(&t), *bh = text_close(&h);
    int rc = deliver(to, subject, bt, bh, err, errcap);
    free(bt);
    free(bh);
    return rc;
}
