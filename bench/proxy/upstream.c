// Upstream for bench/proxy.sh: a threaded HTTP/1.1 server with keep-alive, one thread per
// connection, no request bodies (the benchmark only sends GET).
//
//   upstream ADDR PORT      listens on ADDR:PORT (PORT 0: any free port) and prints the port
//
//   GET /bytes/N            200 with Content-Length N, N bytes of 'x' (the throughput test)
//   GET anything else       200 with a 2-byte body "ok" (the keep-alive test)
//
// A connection stays open until the client closes it or sends "Connection: close".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

#define HEAD_MAX 16384
#define CHUNK (1 << 20)

static char filler[CHUNK];

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int respond(int fd, char *head)
{
    char method[16], target[2048];
    if (sscanf(head, "%15s %2047s", method, target) != 2) {
        static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        send_all(fd, bad, sizeof bad - 1);
        return -1;
    }
    const char *conn = header(head, "Connection");
    int closing = conn && strncasecmp(conn, "close", 5) == 0;
    char out[256];
    if (strncmp(target, "/bytes/", 7) == 0) {
        unsigned long long n = strtoull(target + 7, NULL, 10);
        int len = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %llu\r\n%s\r\n",
                           n, closing ? "Connection: close\r\n" : "");
        if (send_all(fd, out, (size_t)len) < 0)
            return -1;
        while (n > 0) {
            size_t part = n < CHUNK ? (size_t)n : CHUNK;
            if (send_all(fd, filler, part) < 0)
                return -1;
            n -= part;
        }
    } else {
        int len = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n%s\r\nok",
                           closing ? "Connection: close\r\n" : "");
        if (send_all(fd, out, (size_t)len) < 0)
            return -1;
    }
    return closing ? -1 : 0;
}

static void *serve(void *arg)
{
    int fd = (int)(long)arg;
    char buf[HEAD_MAX + 1];
    size_t have = 0;
    for (;;) {
        buf[have] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) {
            if (have == HEAD_MAX)
                break;
            ssize_t r = recv(fd, buf + have, HEAD_MAX - have, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            have += (size_t)r;
            continue;
        }
        size_t used = (size_t)(end + 4 - buf);
        end[2] = 0; // the head with its last CRLF, for header()
        if (respond(fd, buf) < 0)
            break;
        memmove(buf, buf + used, have - used); // a pipelined request, if any
        have -= used;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: upstream ADDR PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(filler, 'x', sizeof filler);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "upstream: bad address %s\n", argv[1]);
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 512) < 0) {
        perror("upstream: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    printf("%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            perror("upstream: accept");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, &attr, serve, (void *)(long)fd) != 0)
            close(fd);
    }
}
