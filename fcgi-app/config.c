/*
 * config.c - the configuration table: known keys, defaults, env and file.
 */
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *key;
    const char *def;
    char *val; /* owned copy, or NULL */
} config_entry;

static config_entry config_table[] = {
    {"DB_HOST", NULL, NULL},
    {"DB_PORT", "5432", NULL},
    {"DB_NAME", NULL, NULL},
    {"DB_USER", NULL, NULL},
    {"DB_PASSWORD", NULL, NULL},
    {"DB_SSLMODE", "prefer", NULL},
    {"DB_SSLROOTCERT", NULL, NULL},
    {"DB_PREPARED", "on", NULL},
    {"DB_STATEMENT_TIMEOUT", "5000", NULL},
    {"DB_CONNECT_TIMEOUT", "3", NULL},
    {"DB_WAIT_SECONDS", "30", NULL},
    {"REDIS_URL", "redis://127.0.0.1:6379/0", NULL},
    {"REDIS_TIMEOUT_MS", "200", NULL},
    {"SECRET_KEY", NULL, NULL},
    {"PASSWORD_OPSLIMIT", NULL, NULL}, /* unset: libsodium's interactive cost */
    {"PASSWORD_MEMLIMIT_KB", NULL, NULL},
    {"HONEYDUE_WORKERS", "4", NULL},
    {"HONEYDUE_MAX_REQUESTS", "0", NULL},
    {"HONEYDUE_REQUEST_TIMEOUT", "30", NULL},
    {"HONEYDUE_MAX_MEMORY", "0", NULL},
    {"HONEYDUE_EMERGENCY_THRESHOLD", "10", NULL},
    {"HONEYDUE_EMERGENCY_INTERVAL", "60", NULL},
    {"HONEYDUE_SHUTDOWN_TIMEOUT", "20", NULL},
    {"HONEYDUE_MAX_BODY", "1048576", NULL},
    {"HONEYDUE_SERVER_TIMING", "false", NULL},
    {"HONEYDUE_CACHE_TTL", "300", NULL},
    {"HONEYDUE_REGISTER_PER_HOUR", "10", NULL}, /* sign-ups per client address */
    {"HONEYDUE_TOKEN_IDLE_DAYS", "30", NULL}, /* a token's lifetimes (authn.h); 0: none */
    {"HONEYDUE_TOKEN_MAX_DAYS", "365", NULL},
    {"HONEYDUE_MIGRATIONS_DIR", "migrations", NULL},
    {"LOG_LEVEL", "info", NULL},
    {"LOG_FILE", NULL, NULL},
    {"SMTP_URL", NULL, NULL},
    {"SMTP_FROM", NULL, NULL},
    {"SMTP_TIMEOUT_SECONDS", "30", NULL},
    {"SMTP_CA_FILE", NULL, NULL},
    {"STORAGE_BACKEND", "local", NULL},
    {"STORAGE_DIR", NULL, NULL},
    {"HONEYDUE_JOB_WORKERS", "2", NULL},
    {"HONEYDUE_JOB_LEASE_SECONDS", "30", NULL},
    {"HONEYDUE_JOB_RETRY_BASE_MS", "10000", NULL},
    {"HONEYDUE_REMINDER_EVERY_SECONDS", "600", NULL},
    {"HONEYDUE_DOCUMENT_SWEEP_EVERY_SECONDS", "300", NULL},
    {"HONEYDUE_DOCUMENT_RECONCILE_EVERY_SECONDS", "86400", NULL},
    {"HONEYDUE_DOCUMENT_ORPHAN_GRACE_SECONDS", "86400", NULL},
    {"DOCUMENT_MAX_BYTES", "10485760", NULL},
    {"HONEYDUE_RESIDENCE_STORAGE_QUOTA_MB", "1024", NULL},
    {"HONEYDUE_UPLOADS_PER_HOUR", "60", NULL},
    {"S3_ENDPOINT", NULL, NULL}, /* the s3 storage backend's (s3.h) */
    {"S3_REGION", "us-east-1", NULL},
    {"S3_BUCKET", NULL, NULL},
    {"S3_ACCESS_KEY_ID", NULL, NULL},
    {"S3_SECRET_ACCESS_KEY", NULL, NULL},
    {"S3_FORCE_PATH_STYLE", "false", NULL},
    {"S3_TIMEOUT_SECONDS", "30", NULL},
    {"APNS_KEY_FILE", NULL, NULL}, /* honeydue-worker's push providers (push.h) */
    {"APNS_KEY_ID", NULL, NULL},
    {"APNS_TEAM_ID", NULL, NULL},
    {"APNS_TOPIC", NULL, NULL},
    {"APNS_ENV", "production", NULL},
    {"APNS_URL", NULL, NULL},
    {"FCM_CREDENTIALS_FILE", NULL, NULL},
    {"FCM_URL", NULL, NULL},
    {"PUSH_CA_FILE", NULL, NULL},
    {"PUSH_TIMEOUT_SECONDS", "10", NULL},
};

#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static size_t config_index(const char *key)
{
    for (size_t i = 0; i < CONFIG_N; i++)
        if (strcmp(config_table[i].key, key) == 0)
            return i;
    return CONFIG_N;
}

/* Read PATH's KEY=value lines into NEXT (values indexed like the table). */
static int config_read_file(const char *path, char **next)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        log_line(LOG_ERROR, "config", "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char buf[4096];
    int lineno = 0, rc = 0;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        lineno++;
        char *line = trim(buf);
        if (*line == '\0' || *line == '#')
            continue;
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            log_line(LOG_ERROR, "config", "%s:%d: expected KEY=value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(line), *val = trim(eq + 1);
        size_t vlen = strlen(val);
        if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && val[vlen - 1] == val[0]) {
            val++;
            vlen -= 2;
        }
        size_t i = config_index(key);
        if (i == CONFIG_N) {
            log_line(LOG_WARN, "config", "%s:%d: unknown key %s, ignored", path, lineno, key);
            continue;
        }
        free(next[i]);
        next[i] = strndup(val, vlen);
    }
    fclose(f);
    return rc;
}

int config_load(void)
{
    /* Build the new values aside, so a file that fails to read (a reload
     * with a broken ConfigMap) leaves the running configuration whole. */
    char *next[CONFIG_N];
    for (size_t i = 0; i < CONFIG_N; i++) {
        const char *v = getenv(config_table[i].key);
        next[i] = v ? strdup(v) : NULL;
    }
    const char *file = getenv("HONEYDUE_CONFIG");
    int rc = file != NULL && *file != '\0' ? config_read_file(file, next) : 0;
    for (size_t i = 0; i < CONFIG_N; i++) {
        char *drop = rc == 0 ? config_table[i].val : next[i];
        if (rc == 0)
            config_table[i].val = next[i];
        free(drop);
    }
    return rc;
}

const char *config_get(const char *key)
{
    size_t i = config_index(key);
    if (i == CONFIG_N)
        return NULL;
    return config_table[i].val ? config_table[i].val : config_table[i].def;
}

long config_int(const char *key, long def)
{
    const char *v = config_get(key);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0') {
        log_line(LOG_WARN, "config", "%s is not a number, using %ld", key, def);
        return def;
    }
    return n;
}

int config_require(const char *const *keys)
{
    for (; *keys != NULL; keys++) {
        const char *v = config_get(*keys);
        if (v == NULL || *v == '\0') {
            log_line(LOG_ERROR, "config", "missing required configuration: %s", *keys);
            return -1;
        }
    }
    return 0;
}

/* The example's placeholders (deploy/k8s/secret.yaml.example) hold this. */
#define PLACEHOLDER_MARK "change_me"

const char *config_secret_key_weakness(const char *key)
{
    if (key == NULL || *key == '\0')
        return "SECRET_KEY is missing";
    size_t n = strlen(key);
    for (size_t i = 0; i + sizeof(PLACEHOLDER_MARK) - 1 <= n; i++)
        if (strncasecmp(key + i, PLACEHOLDER_MARK, sizeof(PLACEHOLDER_MARK) - 1) == 0)
            return "SECRET_KEY is the example's placeholder";
    /* The alphabet it is written in tells the entropy a character can
     * carry: hex 4 bits, base64 (either kind, '=' padding aside) 6 bits,
     * anything else at most about 6.5 (printable ASCII). */
    size_t len = n;
    while (len > 0 && key[len - 1] == '=')
        len--;
    int hex = 1, b64 = 1, distinct = 0;
    unsigned char seen[256] = {0};
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)key[i];
        hex &= isxdigit(ch) != 0;
        b64 &= isalnum(ch) || ch == '+' || ch == '/' || ch == '-' || ch == '_';
        distinct += !seen[ch];
        seen[ch] = 1;
    }
    if (len < (hex ? 64u : b64 ? 43u : 40u))
        return "SECRET_KEY is too short to hold 32 bytes of entropy (64 hex characters, "
               "43 of base64, 40 of other printable text)";
    /* Random text that long shows most of its alphabet: 64 random hex
     * digits have fewer than 10 distinct ones about once in 10^12 keys. */
    if (distinct < (hex ? 10 : 16))
        return "SECRET_KEY repeats too few characters to be random";
    return NULL;
}

int config_check_secret_key(void)
{
    const char *why = config_secret_key_weakness(config_get("SECRET_KEY"));
    if (why == NULL)
        return 0;
    log_line(LOG_ERROR, "config", "%s; make one with: openssl rand -hex 32", why);
    return -1;
}
