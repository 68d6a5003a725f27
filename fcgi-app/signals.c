/*
 * signals.c - the signal table and self-pipe of signals.h.
 */
#include "signals.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signo;
static volatile sig_atomic_t reopen_wanted;
static int wake_pipe[2] = {-1, -1};
static sigset_t held; /* the STOP and REOPEN signals of the table */

static void wake(void)
{
    if (wake_pipe[1] >= 0) {
        ssize_t w = write(wake_pipe[1], "x", 1);
        (void)w;
    }
}

static void on_stop(int signo)
{
    int saved = errno;
    stop_signo = signo;
    wake();
    errno = saved;
}

static void on_reopen(int signo)
{
    int saved = errno;
    (void)signo;
    reopen_wanted = 1;
    wake();
    errno = saved;
}

int sig_install(const sig_action *table)
{
    if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
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
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    return 0;
}

void sig_hold(void)
{
    sigprocmask(SIG_BLOCK, &held, NULL);
}

void sig_release(void)
{
    sigprocmask(SIG_UNBLOCK, &held, NULL);
}

int sig_stop_requested(void)
{
    return (int)stop_signo;
}

int sig_wake_fd(void)
{
    return wake_pipe[0];
}

void sig_drain(void)
{
    char drain[64];
    while (wake_pipe[0] >= 0 && read(wake_pipe[0], drain, sizeof(drain)) > 0)
        ;
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
