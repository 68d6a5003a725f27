/*
 * scoreboard.c - the shared-memory scoreboard (see scoreboard.h).
 */
#include "scoreboard.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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
    board->started_ms = sb_now_ms();
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

int64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sb_claim(int i, pid_t pid, int generation)
{
    if (board == NULL || i < 0 || i >= SB_SLOTS)
        return;
    sb_slot *s = &board->slots[i];
    s->pid = pid;
    s->generation = generation;
    s->started_ms = sb_now_ms();
    atomic_store(&s->busy_since_ms, 0);
    atomic_store(&s->requests, 0);
    atomic_store(&s->rss_kb, 0);
    s->method[0] = s->route[0] = s->path[0] = s->request_id[0] = '\0';
    atomic_store(&s->state, SB_STARTING);
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
    snprintf(dst, cap, "%s", src ? src : "");
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
    int active = 0;
    for (int i = 0; i < SB_SLOTS; i++)
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
