/*
 * signals.c - the signal table of signals.h, and the wait that lets the
 * held signals in.
 */
#include "signals.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_signo;
static volatile sig_atomic_t reopen_wanted;
static sigset_t waiting; /* the mask while sig_poll waits: the held ones let in */

static void on_stop(int signo)
{
    stop_signo = signo;
}

static void on_reopen(int signo)
{
    (void)signo;
    reopen_wanted = 1;
}

void sig_install(const sig_action *table)
{
    sigset_t held;
    sigemptyset(&held);
    for (const sig_action *t = table; t->signo != 0; t++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        switch (t->action) {
        case SIGACT_STOP:
            sa.sa_handler = on_stop;
            sigaddset(&held, t->signo);
            break;
        case SIGACT_REOPEN:
            sa.sa_handler = on_reopen;
            sigaddset(&held, t->signo);
            break;
        case SIGACT_IGNORE:
            sa.sa_handler = SIG_IGN;
            break;
        case SIGACT_DEFAULT:
            sa.sa_handler = SIG_DFL;
            break;
        case SIGACT_CALL:
            sa.sa_handler = t->fn;
            break;
        }
        sigaction(t->signo, &sa, NULL);
    }
    sigprocmask(SIG_SETMASK, &held, NULL);
    sigemptyset(&waiting);
}

int sig_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    return ppoll(fds, n, timeout_ms < 0 ? NULL : &ts, &waiting);
}

int sig_stop_requested(void)
{
    return (int)stop_signo;
}

void sig_reopen_log(const char *event)
{
    if (!reopen_wanted)
        return;
    reopen_wanted = 0;
    if (log_reopen() != 0)
        log_line(LOG_ERROR, event, "cannot reopen LOG_FILE: %s", strerror(errno));
    else
        log_line(LOG_INFO, event, "log file reopened");
}
