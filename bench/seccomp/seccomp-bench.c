// Measuring stick for bench/seccomp.sh: program length of libseccomp's filter for a rule file,
// and the per-call cost of getppid(2) with no filter, a raw BPF program from a file (ours), or
// libseccomp's program for the same rule file.
//
//   seccomp-bench length RULES [tree]        instructions libseccomp generates (tree: SCMP_FLTATR_CTL_OPTIMIZE=2)
//   seccomp-bench dump RULES OUT [tree]       libseccomp's BPF, as raw struct sock_filter[]
//   seccomp-bench run CALL none|bpf FILE|libseccomp RULES [tree] [N]
//
// CALL is getppid (allowed by every rule set whatever its arguments: since Linux 5.11 the
// kernel's seccomp action cache answers it without running the filter at all) or ioctl
// (ioctl(-1, TCGETS), EBADF: the default profile looks at ioctl's arguments, so the filter runs
// on every call) or read / tkill (read(-1, NULL, 0), EBADF; tkill(-1, 0), EINVAL: the 400-rule
// set looks at their first argument; read is its lowest number, tkill its highest).
//
// RULES: one rule per line, "NR RET N [ARG OP VALUE MASK]..." (RET is a SECCOMP_RET_* value,
// which is also libseccomp's action value; OP is eq ne lt le gt ge maskedeq). Default action allow.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, int err)
{
    fprintf(stderr, "seccomp-bench: %s: %s\n", what, strerror(err));
    exit(1);
}

static enum scmp_compare op_of(const char *op)
{
    if (!strcmp(op, "eq")) return SCMP_CMP_EQ;
    if (!strcmp(op, "ne")) return SCMP_CMP_NE;
    if (!strcmp(op, "lt")) return SCMP_CMP_LT;
    if (!strcmp(op, "le")) return SCMP_CMP_LE;
    if (!strcmp(op, "gt")) return SCMP_CMP_GT;
    if (!strcmp(op, "ge")) return SCMP_CMP_GE;
    if (!strcmp(op, "maskedeq")) return SCMP_CMP_MASKED_EQ;
    fprintf(stderr, "seccomp-bench: unknown op %s\n", op);
    exit(2);
}

static scmp_filter_ctx load_rules(const char *path, int tree)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(path, errno);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        die("seccomp_init", ENOMEM);
    if (tree && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0)
        die("SCMP_FLTATR_CTL_OPTIMIZE", EINVAL);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        int nr, n, used;
        unsigned int action;
        if (sscanf(p, "%d %x %d%n", &nr, &action, &n, &used) != 3)
            continue;
        p += used;
        struct scmp_arg_cmp cmp[6];
        for (int i = 0; i < n; i++) {
            unsigned int arg;
            char op[16];
            unsigned long long value, mask;
            if (sscanf(p, " %u %15s %llx %llx%n", &arg, op, &value, &mask, &used) != 4) {
                fprintf(stderr, "seccomp-bench: bad rule: %s", line);
                exit(2);
            }
            p += used;
            enum scmp_compare c = op_of(op);
            cmp[i] = c == SCMP_CMP_MASKED_EQ ? (struct scmp_arg_cmp){arg, c, mask, value} : (struct scmp_arg_cmp){arg, c, value, 0};
        }
        int rc = seccomp_rule_add_exact_array(ctx, action, nr, n, cmp);
        if (rc != 0) {
            fprintf(stderr, "seccomp-bench: libseccomp refused: %s", line);
            die("seccomp_rule_add", -rc);
        }
    }
    fclose(f);
    return ctx;
}

static size_t export_bpf(scmp_filter_ctx ctx, int fd)
{
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc != 0)
        die("seccomp_export_bpf", -rc);
    off_t size = lseek(fd, 0, SEEK_END);
    return (size_t)size / sizeof(struct sock_filter);
}

static void install_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, errno);
    static struct sock_filter prog[4096];
    size_t n = fread(prog, sizeof prog[0], 4096, f);
    fclose(f);
    struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die("PR_SET_NO_NEW_PRIVS", errno);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
        die("seccomp(SET_MODE_FILTER)", errno);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "length")) {
        scmp_filter_ctx ctx = load_rules(argv[2], argc > 3 && !strcmp(argv[3], "tree"));
        int fd = memfd_create("bpf", 0);
        printf("%zu\n", export_bpf(ctx, fd));
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "dump")) {
        scmp_filter_ctx ctx = load_rules(argv[2], argc > 4 && !strcmp(argv[4], "tree"));
        FILE *out = fopen(argv[3], "wb");
        if (!out)
            die(argv[3], errno);
        export_bpf(ctx, fileno(out));
        fclose(out);
        return 0;
    }
    if (argc < 4 || strcmp(argv[1], "run")) {
        fprintf(stderr, "usage: seccomp-bench length RULES [tree] | dump RULES OUT [tree] | run getppid|ioctl|read|tkill none|bpf FILE|libseccomp RULES [tree] [N]\n");
        return 2;
    }
    const char *call = argv[2];
    long nr = !strcmp(call, "ioctl") ? SYS_ioctl : !strcmp(call, "read") ? SYS_read : !strcmp(call, "tkill") ? SYS_tkill : SYS_getppid;
    long a0 = nr == SYS_getppid ? 0 : -1, a1 = nr == SYS_ioctl ? 0x5401 /* TCGETS */ : 0;
    argv++;
    argc--;
    int arg = 3;
    if (!strcmp(argv[2], "bpf")) {
        install_file(argv[arg++]);
    } else if (!strcmp(argv[2], "libseccomp")) {
        int tree = argc > arg + 1 && !strcmp(argv[arg + 1], "tree");
        scmp_filter_ctx ctx = load_rules(argv[arg++], tree);
        arg += tree;
        int rc = seccomp_load(ctx); // sets no_new_privs itself (SCMP_FLTATR_CTL_NNP)
        if (rc != 0)
            die("seccomp_load", -rc);
    } else if (strcmp(argv[2], "none")) {
        fprintf(stderr, "seccomp-bench: unknown mode %s\n", argv[2]);
        return 2;
    }
    long n = argc > arg ? atol(argv[arg]) : 10000000;
    for (long i = 0; i < n / 100; i++) // warm up
        syscall(nr, a0, a1, 0);
    double start = now();
    for (long i = 0; i < n; i++)
        syscall(nr, a0, a1, 0);
    double ns = (now() - start) / (double)n;
    printf("%.1f\n", ns);
    return 0;
}
