/*
 * push_client.c - the push providers' clients (fcgi-app/apns.c, fcm.c)
 * against the stack's push server (tests/push_server.py: HTTP/2 over TLS,
 * checking tokens and payloads as Apple and Google do), for what the HTTP
 * suite cannot reach through a job: a provider that is off, a certificate
 * the client does not trust, a connection refused, a key the provider does
 * not know, an assertion the token endpoint refuses. Not a unit test (it
 * needs the server): tests/run.sh runs it once the stack is up, with the
 * stack's env (APNS_*, FCM_*, PUSH_CA_FILE, HD_PUSH_DIR). Without those
 * every test fails rather than pass without checking.
 */
#include "config.h"
#include "log.h"
#include "push.h"
#include "test.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const keys[] = {"APNS_KEY_FILE", "APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC",
                                   "APNS_URL",      "FCM_CREDENTIALS_FILE", "FCM_URL",
                                   "PUSH_CA_FILE",  "PUSH_TIMEOUT_SECONDS"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* push_setup from the stack's env as it was at start, with KEY set to
 * VALUE (NULL: unset) on top for this test only. Returns how many
 * providers are on, or -1. */
static int setup(const char *key, const char *value)
{
    static char *orig[NKEYS];
    static int have;
    if (getenv("APNS_URL") == NULL || getenv("HD_PUSH_DIR") == NULL) {
        fprintf(stderr, "  APNS_URL and HD_PUSH_DIR must name the stack's push server\n");
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0)
        return -1;
    if (!have) {
        for (size_t i = 0; i < NKEYS; i++)
            orig[i] = getenv(keys[i]) ? strdup(getenv(keys[i])) : NULL;
        have = 1;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (orig[i])
            setenv(keys[i], orig[i], 1);
        else
            unsetenv(keys[i]);
    }
    if (key != NULL) {
        if (value)
            setenv(key, value, 1);
        else
            unsetenv(key);
    }
    if (config_load() != 0)
        return -1;
    log_set_level("error");
    return push_setup();
}

static void ios_token(char *out /* 65 */)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 65, raw, sizeof(raw));
}

static const push_msg msg = {.notification_id = 1,
                             .kind = "task_created",
                             .residence_id = 2,
                             .task_id = 3,
                             .title = "New task: Bleed the radiators",
                             .body = "Sam added \"Bleed the radiators\" at Elm Street.",
                             .badge = 1,
                             .expires_at = 4102444800LL};

TEST(both_providers_deliver_with_the_stacks_settings)
{
    CHECK(setup(NULL, NULL) == 2);
    CHECK(apns_on() && fcm_on());
    char t[65];
    ios_token(t);
    push_outcome o = apns_send(t, &msg);
    CHECK(o.result == PUSH_SENT && o.status == 200);
    o = fcm_send("fcmTokenForTheClientTest_0123456789abcdef", &msg);
    CHECK(o.result == PUSH_SENT && o.status == 200);
    /* A second send reuses the connection and the tokens. */
    o = apns_send(t, &msg);
    CHECK(o.result == PUSH_SENT);
    push_shutdown();
}

TEST(a_provider_without_settings_is_off_and_touches_nothing)
{
    CHECK(setup("APNS_KEY_FILE", NULL) == 1);
    CHECK(!apns_on() && fcm_on());
    char t[65];
    ios_token(t);
    push_outcome o = apns_send(t, &msg);
    CHECK(o.result == PUSH_OFF && o.status == 0);
    CHECK(setup("FCM_CREDENTIALS_FILE", NULL) == 1);
    CHECK(apns_on() && !fcm_on());
    CHECK(fcm_send("fcmTokenForTheClientTest_0123456789abcdef", &msg).result == PUSH_OFF);
    /* Half a configuration is off too, not a crash. */
    CHECK(setup("APNS_TEAM_ID", NULL) == 1 && !apns_on());
    CHECK(setup("APNS_KEY_FILE", "/nonexistent/AuthKey.p8") == 1 && !apns_on());
    CHECK(setup("FCM_CREDENTIALS_FILE", "/etc/hostname") == 1 && !fcm_on());
    push_shutdown();
}

TEST(an_untrusted_certificate_is_a_transport_failure_to_retry)
{
    CHECK(setup("PUSH_CA_FILE", NULL) == 2); /* the system's CAs: not the stack's */
    char t[65];
    ios_token(t);
    push_outcome o = apns_send(t, &msg);
    CHECK(o.result == PUSH_RETRY && o.status == 0);
    CHECK(strstr(o.reason, "certificate") != NULL || strstr(o.reason, "SSL") != NULL);
    o = fcm_send("fcmTokenForTheClientTest_0123456789abcdef", &msg);
    CHECK(o.result == PUSH_RETRY && o.status == 0); /* the token endpoint, first */
    CHECK(strstr(o.reason, "token endpoint") != NULL);
    push_shutdown();
}

TEST(a_refused_connection_is_a_transport_failure_to_retry)
{
    CHECK(setup("APNS_URL", "https://127.0.0.1:1") == 2);
    char t[65];
    ios_token(t);
    push_outcome o = apns_send(t, &msg);
    CHECK(o.result == PUSH_RETRY && o.status == 0 && o.reason[0] != '\0');
    CHECK(setup("FCM_URL", "https://127.0.0.1:1") == 2);
    o = fcm_send("fcmTokenForTheClientTest_0123456789abcdef", &msg);
    CHECK(o.result == PUSH_RETRY && o.status == 0);
    push_shutdown();
}

/* A file holding a new key of the type NID (EVP_PKEY_EC: P-256, else RSA). */
static char *new_key_file(int ec)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/push-client-%d-%s.pem", (int)getpid(), ec ? "ec" : "rsa");
    EVP_PKEY *k = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
    FILE *f = fopen(path, "w");
    if (k == NULL || f == NULL) {
        if (f)
            fclose(f);
        EVP_PKEY_free(k);
        return NULL;
    }
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    EVP_PKEY_free(k);
    return path;
}

TEST(a_key_the_provider_does_not_know_is_refused_not_retried)
{
    char *p8 = new_key_file(1);
    CHECK(p8 != NULL && setup("APNS_KEY_FILE", p8) == 2);
    char t[65];
    ios_token(t);
    push_outcome o = apns_send(t, &msg);
    CHECK(o.result == PUSH_REJECTED && o.status == 403);
    CHECK(strcmp(o.reason, "InvalidProviderToken") == 0);
    if (p8)
        unlink(p8);
    /* The service account's key replaced by another: Google refuses the
     * assertion ("Invalid JWT Signature."): nothing to retry. */
    char json[8192];
    FILE *f = fopen(getenv("FCM_CREDENTIALS_FILE"), "r");
    size_t n = f ? fread(json, 1, sizeof(json) - 1, f) : 0;
    if (f)
        fclose(f);
    json[n] = '\0';
    char *rsa = new_key_file(0);
    json_object *acct = json_tokener_parse(json);
    char pem[4096] = "";
    FILE *k = rsa ? fopen(rsa, "r") : NULL;
    size_t kn = k ? fread(pem, 1, sizeof(pem) - 1, k) : 0;
    if (k)
        fclose(k);
    pem[kn] = '\0';
    CHECK(acct != NULL && kn > 0);
    if (acct != NULL) {
        json_object_object_add(acct, "private_key", json_object_new_string(pem));
        char other[96];
        snprintf(other, sizeof(other), "/tmp/push-client-%d-account.json", (int)getpid());
        json_object_to_file(other, acct);
        json_object_put(acct);
        CHECK(setup("FCM_CREDENTIALS_FILE", other) == 2);
        o = fcm_send("fcmTokenForTheClientTest_0123456789abcdef", &msg);
        CHECK(o.result == PUSH_REJECTED && o.status == 400);
        CHECK(strstr(o.reason, "invalid_grant") != NULL);
        unlink(other);
    }
    if (rsa)
        unlink(rsa);
    push_shutdown();
}

RUN_TESTS()
