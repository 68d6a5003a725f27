/*
 * config.h - configuration shared by honeydue-fcgi, honeydue-worker and
 * honeydue-migrate.
 *
 * Values come from the environment; a config file named by HONEYDUE_CONFIG
 * (KEY=value lines, '#' comments) overrides them and is re-read on SIGHUP.
 * Only the keys in the table in config.c are known; everything else is
 * ignored so a shared env file cannot change behaviour by accident.
 */
#ifndef HD_CONFIG_H
#define HD_CONFIG_H

/* Load the environment, then the config file if HONEYDUE_CONFIG is set.
 * Returns 0, or -1 after logging one line when the file cannot be read or
 * holds a malformed line. Safe to call again (reload). */
int config_load(void);

/* The value of KEY, or its built-in default, or NULL. The pointer stays
 * valid until the next config_load(). */
const char *config_get(const char *key);

/* KEY as an integer; DEF when unset; DEF (and a log line) when not a number. */
long config_int(const char *key, long def);

/* Check that every key in the NULL-terminated list has a non-empty value.
 * Logs "missing required configuration: KEY" for the first missing one and
 * returns -1; returns 0 when all are present. */
int config_require(const char *const *keys);

/* Why the SECRET_KEY value KEY cannot be trusted to carry 32 bytes of
 * entropy (one sentence naming no part of it), or NULL when it can: missing,
 * the example's placeholder (anything holding "CHANGE_ME"), shorter than 32
 * bytes take in its alphabet (64 hex characters, 43 of base64, 40 of any
 * other text), or too few distinct characters for random text. Pure. */
const char *config_secret_key_weakness(const char *key);

/* config_secret_key_weakness of the configured SECRET_KEY: 0, or -1 after
 * logging why (and how to make a good one), never the key. Applies
 * everywhere, the local stack included (tests/stack.sh makes a random one). */
int config_check_secret_key(void);

#endif
