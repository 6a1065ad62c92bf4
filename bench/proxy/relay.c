// Reference relays for bench/proxy.sh: how fast can any process relay one TCP connection to
// another on this machine? No proxy protocol, no decisions: a client connects to LPORT on
// 127.0.0.1 (curl --connect-to) and its bytes go to ADDR:PORT and back.
//
//   relay splice  LPORT ADDR PORT   two threads, socket -> pipe -> socket with splice(2), the way
//                                   the proxy's tunnels move bytes (1 MiB pipes)
//   relay sockmap LPORT ADDR PORT   no user space in the data path at all: both sockets go into a
//                                   BPF sockhash whose stream-verdict program redirects every
//                                   received skb to the other socket's send side (needs root)
//
// One connection at a time is enough for the benchmark; each is served on its own thread.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PIPE_SIZE (1 << 20)

static struct sockaddr_in target;
static int sockmap = 0;
static int map_fd = -1;

static int bpf(int cmd, union bpf_attr *attr) { return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr)); }

static void die(const char *what)
{
    perror(what);
    exit(1);
}

// The verdict program: key = this socket's cookie; redirect to the socket stored under it.
static void load_verdict(void)
{
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_SOCKHASH;
    a.key_size = sizeof(uint64_t);
    a.value_size = sizeof(int);
    a.max_entries = 64;
    map_fd = bpf(BPF_MAP_CREATE, &a);
    if (map_fd < 0)
        die("relay: sockhash");
    struct bpf_insn prog[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 6, .src_reg = 1},           // r6 = skb
        {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_get_socket_cookie},             // r0 = cookie(skb->sk)
        {.code = BPF_STX | BPF_MEM | BPF_DW, .dst_reg = 10, .src_reg = 0, .off = -8}, // key on the stack
        {.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 1, .src_reg = 6},           // r1 = skb
        {.code = BPF_LD | BPF_IMM | BPF_DW, .dst_reg = 2, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd},
        {0},
        {.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 3, .src_reg = 10}, // r3 = &key
        {.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 3, .imm = -8},
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 4, .imm = 0}, // flags 0: the other socket's egress
        {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_sk_redirect_hash},
        {.code = BPF_JMP | BPF_EXIT},
    };
    static char log[16384];
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_SK_SKB;
    a.insns = (uintptr_t)prog;
    a.insn_cnt = sizeof prog / sizeof prog[0];
    a.license = (uintptr_t) "GPL";
    a.log_buf = (uintptr_t)log;
    a.log_size = sizeof log;
    a.log_level = 1;
    int prog_fd = bpf(BPF_PROG_LOAD, &a);
    if (prog_fd < 0) {
        fprintf(stderr, "%s", log);
        die("relay: verdict program");
    }
    memset(&a, 0, sizeof a);
    a.target_fd = (uint32_t)map_fd;
    a.attach_bpf_fd = (uint32_t)prog_fd;
    a.attach_type = BPF_SK_SKB_VERDICT;
    if (bpf(BPF_PROG_ATTACH, &a) < 0)
        die("relay: attach");
}

static uint64_t cookie(int fd)
{
    uint64_t c = 0;
    socklen_t len = sizeof c;
    if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) < 0)
        die("relay: SO_COOKIE");
    return c;
}

static int map_update(uint64_t key, int fd)
{
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = (uint32_t)map_fd;
    a.key = (uintptr_t)&key;
    a.value = (uintptr_t)&fd;
    a.flags = BPF_ANY;
    return bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static void map_delete(uint64_t key)
{
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = (uint32_t)map_fd;
    a.key = (uintptr_t)&key;
    bpf(BPF_MAP_DELETE_ELEM, &a);
}

struct direction {
    int from, to;
};

static void *splice_direction(void *arg)
{
    struct direction *d = arg;
    int p[2];
    if (pipe(p) < 0)
        die("relay: pipe");
    fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
    for (;;) {
        ssize_t n = splice(d->from, NULL, p[1], NULL, PIPE_SIZE, SPLICE_F_MOVE);
        if (n <= 0) {
            shutdown(d->to, SHUT_WR);
            break;
        }
        while (n > 0) {
            ssize_t m = splice(p[0], NULL, d->to, NULL, (size_t)n, SPLICE_F_MOVE);
            if (m <= 0) {
                shutdown(d->from, SHUT_RDWR);
                shutdown(d->to, SHUT_RDWR);
                goto out;
            }
            n -= m;
        }
    }
out:
    close(p[0]);
    close(p[1]);
    return NULL;
}

// Both sockets in the sockhash, each stored under the other's cookie. Bytes the client sent before
// the insert are still queued: setting SO_RCVLOWAT makes the kernel signal data-ready, which runs
// the verdict over what is queued. Each end of input is passed on once seen (the benchmark's
// request is small and the client closes only after the whole response).
static void sockmap_pair(int c, int u)
{
    uint64_t kc = cookie(c), ku = cookie(u);
    if (map_update(kc, u) < 0 || map_update(ku, c) < 0)
        die("relay: sockhash update");
    int one = 1;
    setsockopt(c, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    setsockopt(u, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    struct pollfd f[2] = {{.fd = c, .events = POLLRDHUP}, {.fd = u, .events = POLLRDHUP}};
    int ended = 0;
    while (ended != 3) {
        if (poll(f, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (!(ended & (1 << i)) && (f[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                ended |= 1 << i;
                f[i].fd = -1;
                usleep(1000); // let the last redirected bytes reach the other side's send queue
                shutdown(i == 0 ? u : c, SHUT_WR);
            }
        }
    }
    map_delete(kc);
    map_delete(ku);
}

static void *serve(void *arg)
{
    int c = (int)(intptr_t)arg;
    int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (u < 0 || connect(u, (struct sockaddr *)&target, sizeof target) < 0) {
        perror("relay: connect");
        close(c);
        if (u >= 0)
            close(u);
        return NULL;
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (sockmap) {
        sockmap_pair(c, u);
    } else {
        struct direction up = {c, u}, down = {u, c};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, splice_direction, &up);
        pthread_create(&t2, NULL, splice_direction, &down);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
    }
    close(c);
    close(u);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "splice") != 0 && strcmp(argv[1], "sockmap") != 0)) {
        fprintf(stderr, "usage: relay splice|sockmap LPORT ADDR PORT\n");
        return 2;
    }
    sockmap = strcmp(argv[1], "sockmap") == 0;
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(argv[4]));
    if (inet_pton(AF_INET, argv[3], &target.sin_addr) != 1) {
        fprintf(stderr, "relay: bad address %s\n", argv[3]);
        return 2;
    }
    if (sockmap)
        load_verdict();
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
        die("relay: listen");
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        pthread_t t;
        pthread_create(&t, NULL, serve, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}
