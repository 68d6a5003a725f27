/*
 * signals.h - the signals of a process that serves one thing at a time (an
 * API worker, a job process), and the self-pipe that makes them safe.
 *
 * One table names what each signal does; one call installs it. Handlers
 * only set a flag and write a byte to a pipe, so a process waiting in
 * poll() on its work and sig_wake_fd() always wakes for a signal, and acts
 * on it in plain code between two requests or jobs (a stop never cuts one
 * short; a log reopen never lands inside a line). The supervisors take
 * their own signals synchronously instead (supervisor.c).
 */
#ifndef HD_SIGNALS_H
#define HD_SIGNALS_H

#include <signal.h>

typedef enum {
    SIGACT_STOP = 1, /* finish what is in hand, then end (sig_stop_requested) */
    SIGACT_REOPEN,   /* reopen LOG_FILE at the next sig_reopen_log */
    SIGACT_IGNORE,
    SIGACT_DEFAULT,
    SIGACT_CALL, /* run FN (async-signal-safe code only) */
} sig_action_kind;

typedef struct {
    int signo;
    sig_action_kind action;
    void (*fn)(int signo); /* SIGACT_CALL only */
} sig_action;

/* Create the self-pipe, install TABLE (ended by an entry whose signo is 0)
 * with SA_RESTART, so a read or write in flight never sees EINTR, and
 * unblock every signal (a supervisor forks with them blocked). Call after
 * anything that installs handlers of its own (FCGX_Init). 0, or -1 with
 * errno set when the pipe cannot be made. */
int sig_install(const sig_action *table);

/* The number of the stop signal received, or 0. */
int sig_stop_requested(void);

/* The read end of the self-pipe: readable once a handled signal arrived. */
int sig_wake_fd(void);

/* Empty the self-pipe after poll() said it was readable. */
void sig_drain(void);

/* Hold the STOP and REOPEN signals of the table until sig_release: one
 * that arrives meanwhile waits, then sets its flag. Around the handling of
 * one request or job, so no signal interrupts a call that is not restarted
 * (poll(), which libfcgi uses right after accept() to wait for the request,
 * closes the connection on EINTR). */
void sig_hold(void);
void sig_release(void);

/* If a SIGACT_REOPEN signal arrived since the last call, reopen LOG_FILE
 * and log the outcome under EVENT. */
void sig_reopen_log(const char *event);

#endif
