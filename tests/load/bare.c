/*
 * bare.c - the bare libfcgi responder: the ceiling of this architecture.
 *
 * `make bench` runs it behind the same nginx as the API (location
 * /bench/bare), with as many processes as the API pool, and reports every
 * endpoint as a ratio to it (DESIGN.md section 11). It does nothing but
 * answer each request with a fixed JSON body, so the ratio measures what the
 * application adds on top of nginx, FastCGI and libfcgi.
 *
 * The same-body ceiling: asked /bench/bare?key=KEY&field=FIELD, it answers
 * field FIELD of Redis hash KEY instead (HGET, over one connection to
 * REDIS_URL kept for the process's life), as a cached list's representation
 * ("gz" and "br" with their Content-Encoding), so that a cache hit can be
 * compared with nothing but moving the same bytes from Redis to the client.
 * 404 when the field is not there, 503 when Redis is not.
 *
 * Started by spawn-fcgi, which hands over the listening socket on fd 0.
 * SIGTERM ends it with status 0: at once while it waits for a connection,
 * after the current response while it is answering one.
 */
#include <fcgiapp.h>
#include <hiredis/hiredis.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char response[] = "Status: 200\r\n"
                               "Content-Type: application/json; charset=utf-8\r\n"
                               "\r\n"
                               "{\"status\":\"ok\"}";

static redisContext *redis;

/* Connect to REDIS_URL (redis://[[user]:password@]host[:port][/db]) unless
 * connected. Returns 0, or -1. */
static int redis_connect(void)
{
    if (redis != NULL && redis->err == 0)
        return 0;
    if (redis != NULL)
        redisFree(redis);
    redis = NULL;
    const char *url = getenv("REDIS_URL");
    char host[256] = "127.0.0.1", pass[256] = "";
    int port = 6379, db = 0;
    if (url == NULL || strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *h = url + 8, *at = strrchr(h, '@');
    if (at != NULL) {
        const char *colon = memchr(h, ':', (size_t)(at - h));
        if (colon != NULL)
            snprintf(pass, sizeof(pass), "%.*s", (int)(at - colon - 1), colon + 1);
        h = at + 1;
    }
    size_t hl = strcspn(h, ":/");
    if (hl > 0 && hl < sizeof(host))
        snprintf(host, sizeof(host), "%.*s", (int)hl, h);
    if (h[hl] == ':')
        port = atoi(h + hl + 1);
    const char *slash = strchr(h, '/');
    if (slash != NULL)
        db = atoi(slash + 1);
    redis = redisConnect(host, port);
    if (redis == NULL || redis->err)
        return -1;
    redisReply *r = NULL;
    if (pass[0] != '\0')
        r = redisCommand(redis, "AUTH %s", pass);
    if (r != NULL)
        freeReplyObject(r);
    r = db != 0 ? redisCommand(redis, "SELECT %d", db) : NULL;
    if (r != NULL)
        freeReplyObject(r);
    return redis->err ? -1 : 0;
}

/* The same-body answer for QUERY "key=KEY&field=FIELD". */
static void send_field(FCGX_Request *req, const char *query)
{
    char key[256], field[32];
    if (sscanf(query, "key=%255[^&]&field=%31s", key, field) != 2) {
        FCGX_PutS("Status: 400\r\nContent-Type: text/plain\r\n\r\nkey=...&field=...\n", req->out);
        return;
    }
    redisReply *r = redis_connect() == 0 ? redisCommand(redis, "HGET %s %s", key, field) : NULL;
    if (r == NULL) {
        FCGX_PutS("Status: 503\r\nContent-Type: text/plain\r\n\r\nno redis\n", req->out);
        return;
    }
    if (r->type != REDIS_REPLY_STRING) {
        FCGX_PutS("Status: 404\r\nContent-Type: text/plain\r\n\r\nno such field\n", req->out);
    } else {
        const char *coding = strcmp(field, "gz") == 0   ? "Content-Encoding: gzip\r\n"
                             : strcmp(field, "br") == 0 ? "Content-Encoding: br\r\n"
                                                        : "";
        char head[256]; /* libfcgi's own printf knows no %zu */
        int n = snprintf(head, sizeof(head),
                         "Status: 200\r\nContent-Type: application/json; charset=utf-8\r\n"
                         "%sContent-Length: %zu\r\n\r\n",
                         coding, r->len);
        FCGX_PutStr(head, n, req->out);
        FCGX_PutStr(r->str, (int)r->len, req->out);
    }
    freeReplyObject(r);
}

static volatile sig_atomic_t busy, stop;

static void on_term(int sig)
{
    (void)sig;
    if (!busy)
        _exit(0);
    stop = 1;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (FCGX_Init() != 0)
        return 1;
    FCGX_Request req;
    if (FCGX_InitRequest(&req, 0, 0) != 0)
        return 1;
    while (!stop && FCGX_Accept_r(&req) == 0) {
        busy = 1;
        const char *query = FCGX_GetParam("QUERY_STRING", req.envp);
        if (query != NULL && query[0] != '\0')
            send_field(&req, query);
        else
            FCGX_PutStr(response, (int)sizeof(response) - 1, req.out);
        FCGX_Finish_r(&req);
        busy = 0;
    }
    return 0;
}
