/*
 * pidfile.h - the --pidfile of honeydue-fcgi and honeydue-worker, so an
 * operator (or logrotate) can `kill -HUP $(cat PATH)`.
 */
#ifndef HD_PIDFILE_H
#define HD_PIDFILE_H

/* Refuse a PATH that names a live process of the program PROG (its
 * /proc/PID/comm): logs one error line and returns -1. A missing file, or
 * one naming a dead or foreign process (a stale file), returns 0. */
int pidfile_check(const char *path, const char *prog);

/* Write this process's pid to PATH atomically (PATH.tmp, then rename).
 * Returns 0, or -1 after logging one line. */
int pidfile_write(const char *path);

/* Remove the file pidfile_write wrote, if it still names this process;
 * a no-op in any other process (a forked worker) or before a write. */
void pidfile_remove(void);

#endif
