// The clone-to-execve stage: the only code that runs in the sandbox's processes before
// execve. Every decision is made by the C# planner; this file walks the prepared plan with
// raw system calls. It allocates nothing, takes no lock and calls no libc function that
// could (no stdio, no malloc, no fork(): glibc's fork runs atfork handlers and takes the
// malloc locks that another thread of the supervisor may hold at the moment of clone).
//
// The layout of these structs is mirrored by Launch/NativeStage.cs; a test compiles this
// header with gcc and checks offsetof against Marshal.OffsetOf.
#ifndef SANDBOXRUN_STAGE_H
#define SANDBOXRUN_STAGE_H

#include <stdint.h>

enum sbr_op_kind {
    SBR_OP_MKDIR = 1,      // path, mode
    SBR_OP_MKFILE = 2,     // path, mode: create an empty regular file (a bind target)
    SBR_OP_SYMLINK = 3,    // a = link target, path = link
    SBR_OP_WRITE_FILE = 4, // path, data, len, mode
    SBR_OP_MOUNT = 5,      // a = source, path = target, b = fstype, flags = mount flags, c = data
    SBR_OP_SETATTR = 6,    // path, attr_set, attr_clr, flags = AT_RECURSIVE or 0
    SBR_OP_PIVOT_ROOT = 7, // path = new root (becomes /), a = put_old relative to new root
    SBR_OP_UMOUNT = 8,     // path, flags = umount2 flags
    SBR_OP_CHDIR = 9,      // path
    SBR_OP_SETHOSTNAME = 10, // a = name
    SBR_OP_NETLINK = 11,   // data, len: one NETLINK_ROUTE request, acknowledged
    SBR_OP_RMDIR = 12,     // path
    SBR_OP_MOVE_MOUNT = 13, // fd = detached mount (open_tree), a = plain bind source without one
    SBR_OP_LANDLOCK_PATH = 14, // fd = ruleset, path, attr_set = access, attr_clr = rights for non-directories
    SBR_OP_PROXY_HANDOFF = 15, // fd = unix socket to the supervisor, flags = port: listen on 127.0.0.1:port
                               // in this netns, open a NETLINK_SOCK_DIAG socket, send both with SCM_RIGHTS
};

// Op flags (in sbr_op.opflags).
#define SBR_F_OK_EXIST 1u  // EEXIST is success
#define SBR_F_OPTIONAL 2u  // ENOENT is success (the source does not exist on this host)

struct sbr_op {
    int32_t kind;
    int32_t step;        // reported with errno when this op fails
    uint32_t opflags;
    uint32_t mode;
    uint64_t flags;
    uint64_t attr_set;
    uint64_t attr_clr;
    const char *path;
    const char *a;
    const char *b;
    const char *c;
    const void *data;
    uint64_t len;
    int64_t fd;
};

struct sbr_rlimit {
    int32_t resource;
    int32_t pad;
    uint64_t soft;
    uint64_t hard;
};

struct sbr_plan {
    uint64_t clone_flags;
    const struct sbr_op *ops;
    const struct sbr_rlimit *rlimits;
    const uint32_t *groups;
    const void *bpf;           // struct sock_filter[], NULL for no filter
    const char *exec_file;     // argv[0] as given; searched in search_path unless it has a '/'
    const char *const *search_path; // NULL-terminated, used when exec_file has no '/'
    char *const *argv;
    char *const *envp;
    uint32_t nops;
    uint32_t nrlimits;
    uint32_t ngroups;
    uint32_t bpf_len;          // number of sock_filter instructions
    uint32_t uid;              // the agent's ids inside the sandbox
    uint32_t gid;
    int32_t set_groups;        // 0 when setgroups is denied (rootless user namespace)
    int32_t landlock_fd;       // -1: none
    int32_t pty_fd;            // slave side, -1: none
    int32_t preserve_fds;      // fds 3 .. 3+n-1 reach the agent
    int32_t sync_fd;           // child reads one byte: the parent wrote the id maps
    int32_t sync_parent_fd;    // the parent's end, closed in the child
    int32_t err_fd;            // child writes struct sbr_report on failure; EOF = exec done
    int32_t err_parent_fd;     // the parent's end, closed in the child
    int32_t notify_fd;         // -1: install the filter as it is; else install it with
                               // SECCOMP_FILTER_FLAG_NEW_LISTENER and send the listener here (SCM_RIGHTS)
    int32_t keep_fds[8];       // other fds the setup needs (detached mounts), -1 unused
};

// What the sandbox reports on err_fd when a step fails.
struct sbr_report {
    int32_t step;
    int32_t err;
};

// Fixed step numbers for the stage's own steps; plan ops carry their own (>= 1000).
enum sbr_step {
    SBR_STEP_PDEATHSIG = 1,
    SBR_STEP_SYNC = 2,
    SBR_STEP_CLOSE_FDS = 3,
    SBR_STEP_FORK_AGENT = 4,
    SBR_STEP_SETSID = 5,
    SBR_STEP_CTTY = 6,
    SBR_STEP_RLIMIT = 7,
    SBR_STEP_CAPBSET = 8,
    SBR_STEP_SETGROUPS = 9,
    SBR_STEP_SETGID = 10,
    SBR_STEP_SETUID = 11,
    SBR_STEP_CAPSET = 12,
    SBR_STEP_NO_NEW_PRIVS = 13,
    SBR_STEP_LANDLOCK = 14,
    SBR_STEP_SIGNALS = 15,
    SBR_STEP_SECCOMP = 16,
    SBR_STEP_EXEC = 17,
    SBR_STEP_AMBIENT = 18,
    SBR_STEP_INIT_SIGNALS = 19,
    SBR_STEP_SECCOMP_LISTENER = 20,
};

// Starts the sandbox: clone3 with plan->clone_flags | CLONE_PIDFD. Returns the child's pid
// (host pid namespace) and stores the pidfd, or returns -errno.
int sbr_spawn(const struct sbr_plan *plan, int *pidfd_out);

// Starts a process in a new user namespace that only waits to be killed; the caller writes
// its id maps and opens /proc/PID/ns/user (for idmapped mounts). Returns pid or -errno;
// *pidfd_out receives a pidfd.
int sbr_spawn_userns_holder(int *pidfd_out);

// sizeof checks for the C# mirror.
uint32_t sbr_sizeof_plan(void);
uint32_t sbr_sizeof_op(void);

#endif
