// The sandbox's processes between clone and execve (see stage.h for the rules this file
// keeps). The sequence, with the numbered sync points that Launch/Launcher.cs repeats:
//
//   supervisor (C#, host namespaces)            pid 1 (new namespaces)          agent
//   ---------------------------------           ----------------------          -----
//   prepare plan in unmanaged memory
//   [1] sbr_spawn: clone3(flags|CLONE_PIDFD) -> block signals, SIG_DFL all
//                                               close parent's pipe ends
//                                               PR_SET_PDEATHSIG(SIGKILL)
//                                               close every fd not in the plan
//   [2] write uid_map/gid_map, then one byte -> read sync byte (EOF: parent gone)
//                                               run the plan's ops (mounts,
//                                               pivot_root, hostname, lo up)
//                                               clone(SIGCHLD) ------------------> setsid, ctty, rlimits
//                                               close err pipe, drop caps        drop caps, set ids,
//                                               wait for signals and children    no_new_privs, Landlock,
//                                                                                SIG_DFL, unblock,
//                                                                                fds CLOEXEC, seccomp
//   [3a] with log: receive the listener,     <------------------------------------ listener (SCM_RIGHTS)
//        answer notifications from here on                                       (with log)
//   [3] read err pipe: a report (step, errno) <------------------------------------ on failure: report
//       or EOF when execve succeeded                                             execve(CMD)
//   [4] waitid(P_PIDFD) for pid 1           <- exits with the agent's status (128+N for signal N)
#define _GNU_SOURCE
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

// <linux/mount.h> conflicts with glibc's <sys/mount.h> on glibc 2.36; declare what we use.
struct sbr_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};
#define SBR_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define SBR_CLOSE_RANGE_CLOEXEC (1U << 2)

// The kernel's struct sigaction for rt_sigaction(2) on x86_64 (not glibc's).
struct sbr_ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

#define RETRY(expr)                                                                                \
    ({                                                                                             \
        long _rc;                                                                                  \
        do                                                                                         \
            _rc = (long)(expr);                                                                    \
        while (_rc == -1 && errno == EINTR);                                                       \
        _rc;                                                                                       \
    })

static size_t sbr_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static void report(int fd, int step, int err)
{
    struct sbr_report r = {step, err};
    RETRY(write(fd, &r, sizeof r));
}

__attribute__((noreturn)) static void fail(const struct sbr_plan *p, int step)
{
    report(p->err_fd, step, errno);
    syscall(SYS_exit_group, 125);
    __builtin_unreachable();
}

static int block_all_signals(void)
{
    uint64_t all = ~(uint64_t)0;
    return (int)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof all);
}

// Every disposition back to SIG_DFL: the supervisor's runtime installed handlers (and ignores
// SIGPIPE) that must not run here or leak into the agent.
static void default_all_signals(void)
{
    struct sbr_ksigaction dfl = {0};
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
}

// Closes every fd except the [lo, hi] intervals in keep (unsorted, n <= 32).
static int close_except(int (*keep)[2], int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && keep[j][0] < keep[j - 1][0]; j--) {
            int t0 = keep[j][0], t1 = keep[j][1];
            keep[j][0] = keep[j - 1][0];
            keep[j][1] = keep[j - 1][1];
            keep[j - 1][0] = t0;
            keep[j - 1][1] = t1;
        }
    unsigned int next = 0;
    for (int i = 0; i < n; i++) {
        if (keep[i][0] < 0)
            continue;
        if ((unsigned int)keep[i][0] > next &&
            syscall(SYS_close_range, next, (unsigned int)keep[i][0] - 1, 0) < 0)
            return -1;
        if ((unsigned int)keep[i][1] + 1 > next)
            next = (unsigned int)keep[i][1] + 1;
    }
    return (int)syscall(SYS_close_range, next, ~0U, 0);
}

static int netlink_request(const void *msg, size_t len)
{
    int fd = (int)socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -1;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int rc = -1;
    if (RETRY(sendto(fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof kernel)) == (long)len) {
        union {
            struct nlmsghdr h;
            char buf[512];
        } ack;
        long n = RETRY(recv(fd, &ack, sizeof ack, 0));
        if (n >= (long)(NLMSG_HDRLEN + sizeof(struct nlmsgerr)) && ack.h.nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = NLMSG_DATA(&ack.h);
            if (e->error == 0)
                rc = 0;
            else
                errno = -e->error;
        } else if (n >= 0) {
            errno = EPROTO;
        }
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = (int)RETRY(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
    if (fd < 0)
        return -1;
    const char *p = data;
    while (len > 0) {
        long n = RETRY(write(fd, p, len));
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            close(fd);
            errno = saved;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd);
}

// struct landlock_path_beneath_attr is packed (linux/landlock.h).
struct sbr_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

static int landlock_path_rule(const struct sbr_op *op)
{
    int fd = (int)RETRY(open(op->path, O_PATH | O_CLOEXEC));
    if (fd < 0)
        return -1;
    struct stat st;
    struct sbr_path_beneath attr = {op->attr_set, fd};
    // Directory-only rights on a file make landlock_add_rule fail with EINVAL.
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        attr.allowed_access &= op->attr_clr;
    long rc = syscall(SYS_landlock_add_rule, (int)op->fd, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &attr, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc < 0 ? -1 : 0;
}

// Sends fds (n <= 2) and one tag byte on a unix socket with SCM_RIGHTS.
static int send_fds(int sock, const int *fds, int n, char tag)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
    int *payload = (int *)CMSG_DATA(c);
    for (int i = 0; i < n; i++)
        payload[i] = fds[i];
    return RETRY(sendmsg(sock, &msg, MSG_NOSIGNAL)) == 1 ? 0 : -1;
}

// The egress proxy's listening socket must live in the sandbox's network namespace, and the
// supervisor, which stays in the host's, accepts on it; sock_diag queries must be made from
// the same namespace to see the agent's sockets. Both are created here and handed over.
static int proxy_handoff(const struct sbr_op *op)
{
    int fds[2] = {-1, -1};
    int rc = -1, one = 1;
    fds[0] = (int)socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[0] < 0)
        goto out;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)op->flags),
                               .sin_addr = {htonl(INADDR_LOOPBACK)}};
    if (setsockopt(fds[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fds[0], (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fds[0], 1024) < 0)
        goto out;
    fds[1] = (int)socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 4 /* NETLINK_SOCK_DIAG */);
    if (fds[1] < 0)
        goto out;
    rc = send_fds((int)op->fd, fds, 2, 'P');
out:;
    int saved = errno;
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    errno = saved;
    return rc;
}

// Installs the seccomp filter, the last step before execve. With notify_fd (process.seccomp.log)
// the filter gets a listener, which goes to the supervisor: from the moment seccomp() returns,
// every call here passes through the filter, and a refused one waits for the supervisor's
// answer. sendmsg is never notified, and a policy that refuses it gets no listener
// (SeccompProfile), so the handoff cannot wait on itself or be refused; if it fails, the
// listener is closed before the report is written, and
// a notified call then fails with ENOSYS instead of waiting for an answer that cannot come.
static void install_seccomp(const struct sbr_plan *p)
{
    struct sock_fprog prog = {.len = (unsigned short)p->bpf_len, .filter = (struct sock_filter *)p->bpf};
    if (p->notify_fd < 0) {
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            fail(p, SBR_STEP_SECCOMP);
        return;
    }
    // The listener is O_CLOEXEC (seccomp's init_listener).
    int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0)
        fail(p, SBR_STEP_SECCOMP);
    if (send_fds(p->notify_fd, &listener, 1, 'S') < 0) {
        int saved = errno;
        close(listener);
        errno = saved;
        fail(p, SBR_STEP_SECCOMP_LISTENER);
    }
    close(listener);
    close(p->notify_fd);
}

static int run_op(const struct sbr_op *op)
{
    long rc;
    switch (op->kind) {
    case SBR_OP_MKDIR:
        rc = mkdir(op->path, op->mode);
        break;
    case SBR_OP_MKFILE:
        rc = RETRY(open(op->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, op->mode));
        if (rc >= 0)
            rc = close((int)rc);
        break;
    case SBR_OP_SYMLINK:
        rc = symlink(op->a, op->path);
        break;
    case SBR_OP_WRITE_FILE:
        rc = write_file(op->path, op->data, op->len, op->mode);
        break;
    case SBR_OP_MOUNT:
        rc = syscall(SYS_mount, op->a, op->path, op->b, op->flags, op->c);
        break;
    case SBR_OP_SETATTR: {
        struct sbr_mount_attr attr = {.attr_set = op->attr_set, .attr_clr = op->attr_clr};
        rc = syscall(SYS_mount_setattr, AT_FDCWD, op->path, (unsigned int)op->flags, &attr, sizeof attr);
        break;
    }
    case SBR_OP_PIVOT_ROOT:
        rc = syscall(SYS_pivot_root, op->path, op->a);
        break;
    case SBR_OP_UMOUNT:
        rc = syscall(SYS_umount2, op->path, (int)op->flags);
        break;
    case SBR_OP_CHDIR:
        rc = chdir(op->path);
        break;
    case SBR_OP_SETHOSTNAME:
        rc = syscall(SYS_sethostname, op->a, sbr_strlen(op->a));
        break;
    case SBR_OP_NETLINK:
        rc = netlink_request(op->data, op->len);
        break;
    case SBR_OP_RMDIR:
        rc = rmdir(op->path);
        break;
    case SBR_OP_MOVE_MOUNT:
        // A detached (idmapped) mount prepared by the supervisor; without one, a plain bind of a.
        if (op->fd >= 0)
            rc = syscall(SYS_move_mount, (int)op->fd, "", AT_FDCWD, op->path, SBR_MOVE_MOUNT_F_EMPTY_PATH);
        else
            rc = syscall(SYS_mount, op->a, op->path, NULL, (unsigned long)(MS_BIND | MS_REC), NULL);
        break;
    case SBR_OP_LANDLOCK_PATH:
        rc = landlock_path_rule(op);
        break;
    case SBR_OP_PROXY_HANDOFF:
        rc = proxy_handoff(op);
        break;
    default:
        errno = EINVAL;
        return -1;
    }
    if (rc < 0 && errno == EEXIST && (op->opflags & SBR_F_OK_EXIST))
        return 0;
    if (rc < 0 && errno == ENOENT && (op->opflags & SBR_F_OPTIONAL))
        return 0;
    return rc < 0 ? -1 : 0;
}

static int drop_bounding_set(void)
{
    for (unsigned long cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                return 0; // past the kernel's last capability
            return -1;
        }
    }
    return 0;
}

static int clear_capabilities(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    return (int)syscall(SYS_capset, &hdr, data);
}

static int keep_only_cap_kill(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{1u << CAP_KILL, 1u << CAP_KILL, 0}, {0, 0, 0}};
    return (int)syscall(SYS_capset, &hdr, data);
}

static void exec_agent(const struct sbr_plan *p)
{
    const char *file = p->exec_file;
    int has_slash = 0;
    for (const char *c = file; *c; c++)
        if (*c == '/')
            has_slash = 1;
    if (has_slash || p->search_path == NULL) {
        execve(file, p->argv, p->envp);
        return;
    }
    // execvp(3)'s search without its allocation: ENOENT/ENOTDIR move on, EACCES is kept
    // as the answer if nothing else is found, anything else stops the search.
    size_t flen = sbr_strlen(file);
    int saw_eacces = 0;
    char buf[4096];
    for (const char *const *dir = p->search_path; *dir; dir++) {
        size_t dlen = sbr_strlen(*dir);
        if (dlen + 1 + flen + 1 > sizeof buf)
            continue;
        for (size_t i = 0; i < dlen; i++)
            buf[i] = (*dir)[i];
        buf[dlen] = '/';
        for (size_t i = 0; i <= flen; i++)
            buf[dlen + 1 + i] = file[i];
        execve(buf, p->argv, p->envp);
        if (errno == EACCES) {
            // A directory of PATH the agent cannot search is not the command refusing to run.
            int saved = errno;
            if (access(*dir, X_OK) == 0)
                saw_eacces = 1;
            errno = saved;
        }
        if (errno == EACCES)
            continue;
        else if (errno != ENOENT && errno != ENOTDIR)
            return;
    }
    errno = saw_eacces ? EACCES : ENOENT;
}

__attribute__((noreturn)) static void agent_main(const struct sbr_plan *p)
{
    if (setsid() < 0)
        fail(p, SBR_STEP_SETSID);
    if (p->pty_fd >= 0) {
        if (ioctl(p->pty_fd, TIOCSCTTY, 0) < 0)
            fail(p, SBR_STEP_CTTY);
        for (int fd = 0; fd < 3; fd++)
            if (RETRY(dup2(p->pty_fd, fd)) < 0)
                fail(p, SBR_STEP_CTTY);
        if (p->pty_fd > 2)
            close(p->pty_fd);
    }
    for (uint32_t i = 0; i < p->nrlimits; i++) {
        struct rlimit64 rl = {p->rlimits[i].soft, p->rlimits[i].hard};
        if (syscall(SYS_prlimit64, 0, p->rlimits[i].resource, &rl, NULL) < 0)
            fail(p, SBR_STEP_RLIMIT);
    }
    if (drop_bounding_set() < 0)
        fail(p, SBR_STEP_CAPBSET);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        fail(p, SBR_STEP_AMBIENT);
    // Raw syscalls: glibc's setgroups/setresuid signal every thread it believes exists
    // (nptl setxid), and this process only has a copy of the supervisor's thread list.
    if (p->set_groups && syscall(SYS_setgroups, p->ngroups, p->groups) < 0)
        fail(p, SBR_STEP_SETGROUPS);
    if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
        fail(p, SBR_STEP_SETGID);
    if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
        fail(p, SBR_STEP_SETUID);
    // A uid change away from 0 clears the capability sets, but the ids before it may not
    // have been 0 (an unmapped id in a fresh user namespace), so clear them explicitly.
    if (clear_capabilities() < 0)
        fail(p, SBR_STEP_CAPSET);
    // Armed after the id change, which clears it (commit_creds). If pid 1 is already gone the
    // kernel has killed this namespace anyway.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail(p, SBR_STEP_PDEATHSIG);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(p, SBR_STEP_NO_NEW_PRIVS);
    if (p->landlock_fd >= 0) {
        if (syscall(SYS_landlock_restrict_self, p->landlock_fd, 0) < 0)
            fail(p, SBR_STEP_LANDLOCK);
        close(p->landlock_fd);
    }
    uint64_t none = 0;
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none) < 0)
        fail(p, SBR_STEP_SIGNALS);
    for (int fd = 3; fd < 3 + p->preserve_fds; fd++)
        if (fcntl(fd, F_SETFD, 0) < 0)
            fail(p, SBR_STEP_CLOSE_FDS);
    if (syscall(SYS_close_range, 3 + p->preserve_fds, ~0U, SBR_CLOSE_RANGE_CLOEXEC) < 0)
        fail(p, SBR_STEP_CLOSE_FDS);
    if (p->bpf != NULL)
        install_seccomp(p);
    exec_agent(p);
    fail(p, SBR_STEP_EXEC);
}

// pid 1: reap every child, forward signals to the agent, exit with the agent's status.
__attribute__((noreturn)) static void init_main(const struct sbr_plan *p, pid_t agent)
{
    // pid 1 keeps only CAP_KILL (to forward signals to the agent, whose uid may differ) and
    // keeps its ids: a change of ids would clear PR_SET_PDEATHSIG (commit_creds), and the
    // death of the supervisor must still kill the sandbox. Not dumpable, so the agent cannot
    // ptrace it; signals the agent sends it are consumed below and come back to the agent.
    if (drop_bounding_set() < 0)
        fail(p, SBR_STEP_CAPBSET);
    if (keep_only_cap_kill() < 0)
        fail(p, SBR_STEP_CAPSET);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(p, SBR_STEP_NO_NEW_PRIVS);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    close(p->err_fd);
    syscall(SYS_close_range, 3, ~0U, 0);

    uint64_t all = ~(uint64_t)0;
    for (;;) {
        siginfo_t info;
        long sig = syscall(SYS_rt_sigtimedwait, &all, &info, NULL, sizeof all);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            // Forwarded: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, and
            // anything else sent to pid 1 (which the kernel would otherwise drop for init).
            syscall(SYS_kill, agent, sig);
            continue;
        }
        for (;;) {
            int status;
            pid_t w = (pid_t)syscall(SYS_wait4, -1, &status, WNOHANG, NULL);
            if (w <= 0)
                break;
            if (w == agent) {
                int code = WIFEXITED(status) ? WEXITSTATUS(status)
                           : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                                 : 125;
                syscall(SYS_exit_group, code);
            }
        }
    }
}

__attribute__((noreturn)) static void child_main(const struct sbr_plan *p)
{
    block_all_signals();
    default_all_signals();
    close(p->sync_parent_fd);
    close(p->err_parent_fd);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail(p, SBR_STEP_PDEATHSIG);

    int keep[32][2];
    int n = 0;
    keep[n][0] = 0, keep[n][1] = 2, n++;
    keep[n][0] = p->sync_fd, keep[n][1] = p->sync_fd, n++;
    keep[n][0] = p->err_fd, keep[n][1] = p->err_fd, n++;
    keep[n][0] = p->landlock_fd, keep[n][1] = p->landlock_fd, n++;
    keep[n][0] = p->pty_fd, keep[n][1] = p->pty_fd, n++;
    keep[n][0] = p->notify_fd, keep[n][1] = p->notify_fd, n++;
    if (p->preserve_fds > 0)
        keep[n][0] = 3, keep[n][1] = 2 + p->preserve_fds, n++;
    for (int i = 0; i < 8; i++)
        keep[n][0] = p->keep_fds[i], keep[n][1] = p->keep_fds[i], n++;
    if (close_except(keep, n) < 0)
        fail(p, SBR_STEP_CLOSE_FDS);

    // [2] The parent writes our id maps, then one byte. EOF: it died or gave up.
    char go;
    if (RETRY(read(p->sync_fd, &go, 1)) != 1)
        syscall(SYS_exit_group, 125);
    close(p->sync_fd);

    for (uint32_t i = 0; i < p->nops; i++)
        if (run_op(&p->ops[i]) < 0)
            fail(p, p->ops[i].step);
    for (int i = 0; i < 8; i++)
        if (p->keep_fds[i] >= 0)
            close(p->keep_fds[i]);

    long agent = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
    if (agent < 0)
        fail(p, SBR_STEP_FORK_AGENT);
    if (agent == 0)
        agent_main(p);
    init_main(p, (pid_t)agent);
}

int sbr_spawn(const struct sbr_plan *plan, int *pidfd_out)
{
    int pidfd = -1;
    struct clone_args args = {0};
    args.flags = plan->clone_flags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0)
        return -errno;
    if (pid == 0)
        child_main(plan);
    *pidfd_out = pidfd;
    return (int)pid;
}

int sbr_spawn_userns_holder(int *pidfd_out)
{
    int pidfd = -1;
    struct clone_args args = {0};
    args.flags = CLONE_NEWUSER | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        block_all_signals();
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        syscall(SYS_close_range, 0, ~0U, 0);
        for (;;)
            syscall(SYS_pause);
    }
    *pidfd_out = pidfd;
    return (int)pid;
}

uint32_t sbr_sizeof_plan(void) { return sizeof(struct sbr_plan); }
uint32_t sbr_sizeof_op(void) { return sizeof(struct sbr_op); }
