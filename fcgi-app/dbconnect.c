/*
 * dbconnect.c - open a libpq connection from the DB_* configuration.
 * Shared by the API workers, the migrator and (later) the job worker.
 */
#include "db.h"
#include "config.h"
#include "dbconnect.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int db_direct_host(const char *host, char *out, size_t cap)
{
    size_t len = strlen(host);
    if (len + 1 > cap)
        return -1;
    size_t label = strcspn(host, ".");
    static const char suffix[] = "-pooler";
    size_t sl = sizeof(suffix) - 1;
    if (label > sl && memcmp(host + label - sl, suffix, sl) == 0) {
        memcpy(out, host, label - sl);
        memcpy(out + label - sl, host + label, len - label + 1);
        return 1;
    }
    memcpy(out, host, len + 1);
    return 0;
}

PGconn *db_connect(const char *application_name, int direct)
{
    char host[256], options[128];
    const char *cfg_host = config_get("DB_HOST");
    if (cfg_host == NULL || db_direct_host(cfg_host, host, sizeof(host)) < 0) {
        log_line(LOG_ERROR, "db", "DB_HOST is missing or too long");
        return NULL;
    }
    if (!direct)
        snprintf(host, sizeof(host), "%s", cfg_host);
    else if (strcmp(host, cfg_host) != 0)
        log_line(LOG_INFO, "db", "connecting to the direct endpoint %s instead of the pooler %s",
                 host, cfg_host);
    snprintf(options, sizeof(options), "-c TimeZone=UTC -c statement_timeout=%ld",
             config_int("DB_STATEMENT_TIMEOUT", 5000));
    /* A transaction-mode pooler (the reason for DB_PREPARED=off) refuses the
     * "options" startup parameter, and could not keep a session setting
     * anyway: the time zone goes as a startup parameter it tracks per client
     * (libpq sends PGTZ as one), and the statement timeout is left to the
     * role (ALTER ROLE ... SET statement_timeout; see docs/operations.md). */
    const char *prepared = config_get("DB_PREPARED");
    int pooled = !direct && prepared != NULL && strcasecmp(prepared, "off") == 0;
    if (pooled) {
        setenv("PGTZ", "UTC", 1);
        static int said;
        if (!said++)
            log_line(LOG_INFO, "db",
                     "DB_PREPARED=off: no per-connection options (a transaction pooler refuses "
                     "them); statement_timeout comes from the role");
    }
    /* Keywords, never a conninfo string: no value can inject another.
     * sslrootcert (DB_SSLROOTCERT, the CA that signed the server's
     * certificate) is what verify-ca and verify-full check against; unset,
     * libpq looks in ~/.postgresql/root.crt. A NULL value is skipped. */
    const char *keys[] = {"host",
                          "port",
                          "dbname",
                          "user",
                          "password",
                          "sslmode",
                          "sslrootcert",
                          "connect_timeout",
                          "application_name",
                          "options",
                          NULL};
    const char *rootcert = config_get("DB_SSLROOTCERT");
    const char *vals[] = {host,
                          config_get("DB_PORT"),
                          config_get("DB_NAME"),
                          config_get("DB_USER"),
                          config_get("DB_PASSWORD"),
                          config_get("DB_SSLMODE"),
                          rootcert != NULL && *rootcert != '\0' ? rootcert : NULL,
                          config_get("DB_CONNECT_TIMEOUT"),
                          application_name,
                          pooled ? NULL : options,
                          NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", c ? PQerrorMessage(c) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        log_line(LOG_ERROR, "db", "cannot connect to postgres at %s:%s/%s: %s", host,
                 config_get("DB_PORT"), config_get("DB_NAME") ? config_get("DB_NAME") : "", msg);
        PQfinish(c);
        return NULL;
    }
    return c;
}
