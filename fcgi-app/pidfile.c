/*
 * pidfile.c - write, check and remove the pid file of a daemon.
 */
#include "pidfile.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char written_path[4096];
static pid_t written_pid;

/* The pid in PATH, or 0 when the file is missing or holds no pid. */
static pid_t pidfile_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > 0x3fffffff)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

/* 1 when PID is alive and its command name is PROG. */
static int is_running(pid_t pid, const char *prog)
{
    if (pid == getpid() || (kill(pid, 0) != 0 && errno != EPERM))
        return 0;
    char proc[64], comm[64] = "";
    snprintf(proc, sizeof(proc), "/proc/%d/comm", (int)pid);
    FILE *f = fopen(proc, "r");
    if (f == NULL)
        return 0;
    if (fgets(comm, sizeof(comm), f) == NULL)
        comm[0] = '\0';
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    /* comm holds at most 15 bytes of the name */
    return comm[0] != '\0' && strncmp(comm, prog, strlen(comm)) == 0;
}

int pidfile_check(const char *path, const char *prog)
{
    pid_t pid = pidfile_read(path);
    if (pid > 0 && is_running(pid, prog)) {
        log_line(LOG_ERROR, "start", "%s is already running as pid %d (pidfile %s); not starting",
                 prog, (int)pid, path);
        return -1;
    }
    return 0;
}

int pidfile_write(const char *path)
{
    char tmp[sizeof(written_path) + 32];
    if (strlen(path) >= sizeof(written_path)) {
        log_line(LOG_ERROR, "start", "pidfile path too long");
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_line(LOG_ERROR, "start", "cannot write pidfile %s: %s", tmp, strerror(errno));
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    int ok = write(fd, buf, (size_t)n) == n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        log_line(LOG_ERROR, "start", "cannot write pidfile %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    memmove(written_path, path, strlen(path) + 1);
    written_pid = getpid();
    return 0;
}

void pidfile_remove(void)
{
    if (written_pid == 0 || written_pid != getpid())
        return;
    if (pidfile_read(written_path) == written_pid)
        unlink(written_path);
    written_pid = 0;
}
