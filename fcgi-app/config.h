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

#endif
