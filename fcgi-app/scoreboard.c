/*
 * scoreboard.c - the shared-memory scoreboard (see scoreboard.h).
 */
#include "scoreboard.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static scoreboard *board;
static int self = -1;

int sb_open(void)
{
    if (board != NULL)
        return 0;
    void *p =
        mmap(NULL, sizeof(scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    board = p;
    memset(board, 0, sizeof(*board));
    board->started_ms = sb_wall_ms();
    board->started_mono_ms = sb_now_ms();
    board->listen_fd = -1;
    return 0;
}

scoreboard *sb_get(void)
{
    return board;
}

sb_slot *sb_self(void)
{
    return board != NULL && self >= 0 ? &board->slots[self] : NULL;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sb_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t sb_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void sb_claim(int i, pid_t pid, int generation)
{
    if (board == NULL || i < 0 || i >= SB_SLOTS)
        return;
    sb_slot *s = &board->slots[i];
    s->pid = pid;
    s->generation = generation;
    s->started_ms = sb_wall_ms();
    atomic_store(&s->busy_since_ms, 0);
    atomic_store(&s->requests, 0);
    atomic_store(&s->rss_kb, 0);
    s->method[0] = s->route[0] = s->path[0] = s->request_id[0] = '\0';
    atomic_store(&s->state, SB_STARTING);
    int used = atomic_load(&board->slots_used);
    while (i + 1 > used && !atomic_compare_exchange_weak(&board->slots_used, &used, i + 1))
        ;
}

void sb_attach(int i)
{
    self = i;
}

void sb_release(pid_t pid)
{
    if (board == NULL)
        return;
    for (int i = 0; i < SB_SLOTS; i++)
        if (board->slots[i].pid == pid && atomic_load(&board->slots[i].state) != SB_FREE) {
            atomic_store(&board->slots[i].state, SB_FREE);
            board->slots[i].pid = 0;
        }
}

static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

void sb_busy(const char *method, const char *route, const char *path, const char *request_id)
{
    sb_slot *s = sb_self();
    if (s == NULL)
        return;
    copy(s->method, sizeof(s->method), method);
    copy(s->route, sizeof(s->route), route);
    copy(s->path, sizeof(s->path), path);
    copy(s->request_id, sizeof(s->request_id), request_id);
    atomic_store(&s->busy_since_ms, sb_now_ms());
    atomic_store(&s->state, SB_BUSY);
    /* Every request pays this: only the slots ever claimed are read (a
     * pool's size, not SB_SLOTS' 256 slots of several cache lines each). */
    int active = 0, used = atomic_load(&board->slots_used);
    for (int i = 0; i < used && i < SB_SLOTS; i++)
        active += atomic_load(&board->slots[i].state) == SB_BUSY;
    int max = atomic_load(&board->max_active);
    while (active > max && !atomic_compare_exchange_weak(&board->max_active, &max, active))
        ;
}

void sb_idle(void)
{
    sb_slot *s = sb_self();
    if (s == NULL)
        return;
    atomic_fetch_add(&s->requests, 1);
    atomic_store(&s->busy_since_ms, 0);
    atomic_store(&s->state, SB_IDLE);
}

uint64_t sb_rss_kb(void)
{
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long size, resident;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
}

const double sb_bucket_ms[SB_BUCKETS] = {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 0};

void sb_record(int route, int status, long dur_us, long db_us, long cache_us, const char *cache)
{
    if (board == NULL)
        return;
    if (route < 0 || route >= SB_ROUTES)
        route = SB_ROUTES;
    sb_route_stats *st = &board->routes[route];
    int cls = status / 100;
    atomic_fetch_add(&st->by_class[cls >= 1 && cls <= 5 ? cls : 0], 1);
    int b = 0;
    while (b < SB_BUCKETS - 1 && (double)dur_us / 1000.0 > sb_bucket_ms[b])
        b++;
    atomic_fetch_add(&st->buckets[b], 1);
    atomic_fetch_add(&st->dur_us, (uint64_t)(dur_us > 0 ? dur_us : 0));
    atomic_fetch_add(&st->db_us, (uint64_t)(db_us > 0 ? db_us : 0));
    atomic_fetch_add(&st->cache_us, (uint64_t)(cache_us > 0 ? cache_us : 0));
    if (cache != NULL && strcmp(cache, "hit") == 0)
        atomic_fetch_add(&board->cache_hit, 1);
    else if (cache != NULL && strcmp(cache, "miss") == 0)
        atomic_fetch_add(&board->cache_miss, 1);
    else if (cache != NULL && strcmp(cache, "bypass") == 0)
        atomic_fetch_add(&board->cache_bypass, 1);
}

void sb_dep_error(int dep)
{
    if (board != NULL && dep >= 0 && dep < SB_DEPS)
        atomic_fetch_add(&board->dep_errors[dep], 1);
}

/* A unix socket's accept queue, from the kernel's sock_diag: the exact
 * lookup of the socket by inode answers UNIX_DIAG_RQLEN, which for a
 * listening socket is (connections waiting, backlog). */
static int unix_listen_queue(int fd, int *queued, int *backlog)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -1;
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg;
    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = ~0u;
    msg.req.udiag_ino = (unsigned int)st.st_ino;
    msg.req.udiag_show = UDIAG_SHOW_RQLEN;
    msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u; /* no cookie */
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int rc = -1;
    if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        goto out;
    long buf[1024]; /* aligned for nlmsghdr */
    ssize_t n = recv(nl, buf, sizeof(buf), 0);
    if (n < 0)
        goto out;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)n);
         h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
            break; /* NLMSG_ERROR or NLMSG_DONE */
        struct unix_diag_msg *m = NLMSG_DATA(h);
        if (m->udiag_ino != (unsigned int)st.st_ino)
            continue;
        int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
        for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type != UNIX_DIAG_RQLEN || RTA_PAYLOAD(a) < sizeof(struct unix_diag_rqlen))
                continue;
            struct unix_diag_rqlen *q = RTA_DATA(a);
            *queued = (int)q->udiag_rqueue;
            *backlog = (int)q->udiag_wqueue;
            rc = 0;
        }
    }
out:
    close(nl);
    return rc;
}

int sb_listen_queue(int fd, int *queued, int *backlog)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof(ss);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_UNIX)
        return unix_listen_queue(fd, queued, backlog);
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        /* For a listening TCP socket, tcpi_unacked is the accept queue and
         * tcpi_sacked its limit. */
        struct tcp_info ti;
        socklen_t tl = sizeof(ti);
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0)
            return -1;
        *queued = (int)ti.tcpi_unacked;
        *backlog = (int)ti.tcpi_sacked;
        return 0;
    }
    return -1;
}

void sb_sample_listen(void)
{
    int queued, backlog;
    if (board == NULL || sb_listen_queue(board->listen_fd, &queued, &backlog) != 0)
        return;
    atomic_store(&board->listen_queue, queued);
    atomic_store(&board->listen_backlog, backlog);
    int max = atomic_load(&board->max_listen_queue);
    while (queued > max && !atomic_compare_exchange_weak(&board->max_listen_queue, &max, queued))
        ;
}
