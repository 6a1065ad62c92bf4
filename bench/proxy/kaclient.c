// Load generator for bench/proxy.sh: small GET requests one after another on one keep-alive
// connection, the latency of each measured from the first byte sent to the last byte of the
// response body. The same program talks to a forward proxy (absolute-form target) or straight to
// the upstream (origin-form target), so every path is measured by the same client.
//
//   kaclient [-q] CONNECT TARGET HOST N [MAXSECONDS]
//
//   CONNECT     where to connect: IP:PORT or http://IP:PORT[/] (a proxy, or the upstream itself)
//   TARGET      the request-target: http://198.18.0.1:8080/small through a proxy, /small direct
//   HOST        the Host header
//   N           requests measured, after a warm-up of 1,000 requests or 2 s, whichever ends first
//   MAXSECONDS  stop measuring after this long even if fewer than N were done (default 30)
//   -q          diagnostic: TCP_QUICKACK before every read, so this end never delays its ACKs;
//               when that changes the latency, the server is holding small writes back (Nagle)
//
// Prints one line: requests seconds req/s p50_us p99_us connections. A server that closes the
// connection after a response (a proxy without client keep-alive, with or without saying
// "Connection: close") makes the next request open a new connection, the connect (and a send
// into the closed one, when it was not announced) counted in that request's latency;
// "connections" says how many were opened in the measured part.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

#define BUF 65536

static struct sockaddr_in addr;
static char buf[BUF + 1];
static size_t have;
static int quickack;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "kaclient: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        die("socket");
    struct timeval limit = {.tv_sec = 60}; // a stalled server ends the run instead of hanging it
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
    have = 0;
    return fd;
}

// Reads until at least N bytes are buffered; 0 at end of stream (or a reset: a peer that closed
// an idle connection, which only matters before the first byte of a response).
static int fill(int fd, size_t n)
{
    while (have < n) {
        if (quickack)
            setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &quickack, sizeof quickack);
        ssize_t r = recv(fd, buf + have, BUF - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != ECONNRESET)
            die("recv");
        if (r <= 0)
            return 0;
        have += (size_t)r;
    }
    return 1;
}

static void consume(size_t n)
{
    memmove(buf, buf + n, have - n);
    have -= n;
}

// One response: returns 1 when the connection may carry the next request, 0 when it closes,
// -1 when it ended before any byte of the response (the server closed it after the last one).
static int response(int fd)
{
    char *end;
    for (;;) {
        buf[have] = 0;
        if ((end = strstr(buf, "\r\n\r\n")))
            break;
        if (have == 0) {
            if (!fill(fd, 1))
                return -1;
            continue;
        }
        if (have == BUF || !fill(fd, have + 1)) {
            errno = 0;
            die("response head truncated or too long");
        }
    }
    size_t head_len = (size_t)(end + 4 - buf);
    end[2] = 0;
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status != 200) {
        fprintf(stderr, "kaclient: unexpected response:\n%s\n", buf);
        exit(1);
    }
    const char *cl = header(buf, "Content-Length");
    const char *conn = header(buf, "Connection");
    if (!conn)
        conn = header(buf, "Proxy-Connection");
    int closing = conn && strncasecmp(conn, "close", 5) == 0;
    if (!cl) {
        errno = 0;
        die("response without Content-Length");
    }
    size_t body = strtoul(cl, NULL, 10);
    consume(head_len);
    while (body > 0) {
        if (have == 0 && !fill(fd, 1)) {
            errno = 0;
            die("response body truncated");
        }
        size_t take = have < body ? have : body;
        consume(take);
        body -= take;
    }
    return !closing;
}

static int send_request(int fd, const char *req, int len)
{
    for (int off = 0; off < len;) {
        ssize_t w = send(fd, req + off, (size_t)(len - off), MSG_NOSIGNAL);
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return -1;
        if (w < 0 && errno != EINTR)
            die("send");
        if (w > 0)
            off += (int)w;
    }
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "-q") == 0) {
        quickack = 1;
        argv++;
        argc--;
    }
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: kaclient [-q] CONNECT TARGET HOST N [MAXSECONDS]\n");
        return 2;
    }
    char where[256];
    const char *c = strncmp(argv[1], "http://", 7) == 0 ? argv[1] + 7 : argv[1];
    snprintf(where, sizeof where, "%s", c);
    char *slash = strchr(where, '/');
    if (slash)
        *slash = 0;
    char *colon = strrchr(where, ':');
    errno = 0;
    if (!colon)
        die("CONNECT needs IP:PORT");
    *colon = 0;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, where, &addr.sin_addr) != 1)
        die("CONNECT needs an IPv4 address");
    long n = atol(argv[4]);
    double max_seconds = argc == 6 ? atof(argv[5]) : 30;
    char req[4096];
    int req_len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sbr-kaclient\r\nAccept: */*\r\n\r\n", argv[2], argv[3]);
    double *lat = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!lat || n <= 0)
        die("N must be positive");

    int fd = -1;
    long conns = 0, done = 0;
    double start = now();
    int warm = 1;
    for (long i = 0; warm || done < n; i++) {
        if (warm && (i == 1000 || now() - start >= 2)) {
            warm = 0;
            conns = fd < 0 ? 0 : 1;
            start = now();
        }
        if (!warm && done > 0 && now() - start >= max_seconds)
            break;
        double t0 = now();
        int keep, fresh = 0;
        do { // a reused connection the server had closed: once more on a new one, as HTTP clients do
            if (fd < 0) {
                fd = dial();
                conns++;
                fresh = 1;
            }
            keep = -1;
            if (send_request(fd, req, req_len) == 0)
                keep = response(fd);
            if (keep < 0) {
                if (fresh) {
                    errno = 0;
                    die("connection closed before a response");
                }
                close(fd);
                fd = -1;
            }
        } while (keep < 0);
        double t1 = now();
        if (!warm)
            lat[done++] = t1 - t0;
        if (!keep) {
            close(fd);
            fd = -1;
        }
    }
    double secs = now() - start;
    if (fd >= 0)
        close(fd);
    qsort(lat, (size_t)done, sizeof *lat, cmp);
    printf("%ld %.3f %.0f %.1f %.1f %ld\n", done, secs, (double)done / secs, lat[(done - 1) / 2] * 1e6,
           lat[(long)((double)(done - 1) * 0.99)] * 1e6, conns);
    return 0;
}
