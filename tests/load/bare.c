/*
 * bare.c - the bare libfcgi responder: the ceiling of this architecture.
 *
 * `make bench` runs it behind the same nginx as the API (location
 * /bench/bare), with as many processes as the API pool, and reports every
 * endpoint as a ratio to it (DESIGN.md section 11). It does nothing but
 * answer each request with a fixed JSON body, so the ratio measures what the
 * application adds on top of nginx, FastCGI and libfcgi.
 *
 * Started by spawn-fcgi, which hands over the listening socket on fd 0.
 * SIGTERM ends it with status 0: at once while it waits for a connection,
 * after the current response while it is answering one.
 */
#include <fcgiapp.h>

#include <signal.h>
#include <string.h>
#include <unistd.h>

static const char response[] = "Status: 200\r\n"
                               "Content-Type: application/json; charset=utf-8\r\n"
                               "\r\n"
                               "{\"status\":\"ok\"}";

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
        FCGX_PutStr(response, (int)sizeof(response) - 1, req.out);
        FCGX_Finish_r(&req);
        busy = 0;
    }
    return 0;
}
