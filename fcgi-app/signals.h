/*
 * signals.h - the signals of a process that serves one thing at a time (an
 * API worker, a job process).
 *
 * One table names what each signal does; one call installs it. The STOP
 * and REOPEN signals are blocked except while the process waits for work
 * in sig_poll(), which lets them in atomically (ppoll): a handler only
 * sets a flag, the wait ends, and the process acts on it in plain code
 * between two requests or jobs. So a stop never cuts one short, a log
 * reopen never lands inside a line, and no call made while serving (libfcgi
 * poll()s right after accept() and closes the connection on EINTR) ever
 * sees one. The supervisors take their own signals synchronously instead
 * (supervisor.c).
 */
#ifndef HD_SIGNALS_H
#define HD_SIGNALS_H

#include <poll.h>
#include <signal.h>

typedef enum {
    SIGACT_STOP = 1, /* finish what is in hand, then end (sig_stop_requested) */
    SIGACT_REOPEN,   /* reopen LOG_FILE at the next sig_reopen_log */
    SIGACT_IGNORE,
    SIGACT_DEFAULT,
    SIGACT_CALL, /* run FN at once, whatever the process is doing
                    (async-signal-safe code only) */
} sig_action_kind;

typedef struct {
    int signo;
    sig_action_kind action;
    void (*fn)(int signo); /* SIGACT_CALL only */
} sig_action;

/* Install TABLE (ended by an entry whose signo is 0): block its STOP and
 * REOPEN signals and unblock every other one (a supervisor forks with them
 * blocked). Call after anything that installs handlers of its own
 * (FCGX_Init). */
void sig_install(const sig_action *table);

/* poll() FDS for up to TIMEOUT_MS (-1: no limit), letting the STOP and
 * REOPEN signals in while it waits. Returns what poll() does: -1 with
 * errno EINTR when a signal ended the wait. */
int sig_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/* The number of the stop signal received, or 0. */
int sig_stop_requested(void);

/* If a SIGACT_REOPEN signal arrived since the last call, reopen LOG_FILE
 * and log the outcome under EVENT. */
void sig_reopen_log(const char *event);

#endif
