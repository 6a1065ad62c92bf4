using System.Collections.Immutable;

namespace Sandboxrun.Seccomp;

/// <summary>
/// The default agent profile (docs/seccomp.md): allow by default and refuse the calls an agent
/// never needs and that widen the kernel attack surface, as rules for <see cref="FilterCompiler"/>.
/// Numbers are x86_64; SeccompProfileTests checks the constants against the syscall table.
/// </summary>
public static class DefaultFilter
{
    public const int EPERM = 1;
    public const int ENOSYS = 38;

    /// <summary>Refused outright whatever the arguments.</summary>
    public static readonly ImmutableArray<string> BlockedNames =
    [
        // Reading or writing other processes' memory and registers.
        "ptrace", "process_vm_readv", "process_vm_writev",
        // Replacing the kernel, loading code into it.
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
        // Large, often-exploited kernel surfaces an agent has no use for. io_uring also performs
        // operations (openat, connect, ...) without passing through seccomp at all.
        "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
        // The kernel keyring is not namespaced.
        "keyctl", "add_key", "request_key",
        // Mounts, old and new API: the sandbox's mount tree is fixed before execve.
        "mount", "umount2", "pivot_root", "move_mount", "open_tree", "open_tree_attr",
        "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        // Whole-machine state.
        "swapon", "swapoff", "reboot", "acct", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
        "syslog", "quotactl", "quotactl_fd", "lookup_dcookie",
        // File handles bypass path-based checks (the "shocker" container escape).
        "name_to_handle_at", "open_by_handle_at",
        // Joining other namespaces.
        "setns",
        // Raw port I/O and the a.out loader.
        "iopl", "ioperm", "uselib",
    ];

    private static readonly SyscallTable s_table = SyscallTable.X86_64;

    /// <summary><see cref="BlockedNames"/> with their x86_64 numbers.</summary>
    public static readonly ImmutableArray<(string Name, uint Nr)> Blocked = [.. BlockedNames.Select(n => (n, s_table[n]))];

    /// <summary>Calls whose arguments decide (clone3 is answered ENOSYS whatever they are).</summary>
    public static readonly ImmutableArray<string> ConditionalNames = ["clone", "clone3", "unshare", "ioctl", "socket", "personality"];

    public const uint NrClone = 56, NrUnshare = 272, NrClone3 = 435, NrIoctl = 16, NrSocket = 41, NrPersonality = 135;

    /// <summary>CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME (linux/sched.h).</summary>
    public const uint NamespaceFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

    /// <summary>Push a byte into a terminal's input queue; write to the Linux console (asm-generic/ioctls.h).</summary>
    public const uint Tiocsti = 0x5412, Tioclinux = 0x541C;

    /// <summary>Socket families an agent may open; others (AF_PACKET, AF_VSOCK, AF_BLUETOOTH, ...) are refused.</summary>
    public const uint AfUnix = 1, AfInet = 2, AfInet6 = 10, AfNetlink = 16;

    public const uint NetlinkRoute = 0;

    /// <summary>socket(2) type: low 4 bits (SOCK_TYPE_MASK); SOCK_CLOEXEC and SOCK_NONBLOCK live above.</summary>
    public const uint SockRaw = 3, SockPacket = 10, SockTypeMask = 0xf;

    /// <summary>personality(2) values allowed (as Docker's profile): PER_LINUX, PER_LINUX32, UNAME26 variants, query.</summary>
    public static readonly ImmutableArray<uint> AllowedPersonalities = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

    /// <summary>Every syscall the default profile has a rule for.</summary>
    public static ImmutableArray<string> Names { get; } = [.. BlockedNames, .. ConditionalNames];

    /// <summary>
    /// The profile's rules. <paramref name="deny"/> is what a refused call gets (EPERM unless the
    /// policy says otherwise); clone3 always gets ENOSYS, which makes glibc (2.34+) and musl fall
    /// back to clone(2), whose flags are a register seccomp can read (clone3 passes them in memory).
    /// </summary>
    public static ImmutableArray<SeccompRule> Rules(SeccompAction deny, Architecture? architecture = null)
    {
        SyscallTable table = (architecture ?? Architecture.X86_64).Syscalls;
        var rules = ImmutableArray.CreateBuilder<SeccompRule>();
        void Add(string name, SeccompAction action, params ArgCondition[] conditions)
        {
            // A call the architecture does not have (iopl on aarch64) needs no rule.
            if (table.Number(name) is uint nr)
                rules.Add(new SeccompRule(nr, action, conditions));
        }

        foreach (string name in BlockedNames)
            Add(name, deny);

        Add("clone3", SeccompAction.Errno(ENOSYS));

        // clone(flags, ...) and unshare(flags): flags are argument 0, and both read only its low
        // 32 bits (kernel_clone_args.flags = lower_32_bits(clone_flags); unshare refuses unknown bits).
        foreach (string name in new[] { "clone", "unshare" })
        {
            Add(name, SeccompAction.Allow, ArgCondition.MaskedEq(0, NamespaceFlags, 0));
            Add(name, deny);
        }

        // ioctl(fd, unsigned int cmd, ...): the kernel reads cmd as 32 bits, so compare only the low
        // half; a 64-bit comparison is dodged by setting high bits (CVE-2019-10063).
        Add("ioctl", deny, ArgCondition.Eq32(1, Tiocsti));
        Add("ioctl", deny, ArgCondition.Eq32(1, Tioclinux));

        // socket(int domain, int type, int protocol).
        Add("socket", SeccompAction.Allow, ArgCondition.Eq32(0, AfUnix));
        foreach (uint inet in new[] { AfInet, AfInet6 })
        {
            // Raw IP, and (AF_INET, SOCK_PACKET), which __sock_create turns into an AF_PACKET socket.
            Add("socket", deny, ArgCondition.Eq32(0, inet), ArgCondition.MaskedEq(1, SockTypeMask, SockRaw));
            Add("socket", deny, ArgCondition.Eq32(0, inet), ArgCondition.MaskedEq(1, SockTypeMask, SockPacket));
            Add("socket", SeccompAction.Allow, ArgCondition.Eq32(0, inet));
        }
        // NETLINK_ROUTE only: getaddrinfo(AI_ADDRCONFIG) and if_nameindex read interfaces through it.
        Add("socket", SeccompAction.Allow, ArgCondition.Eq32(0, AfNetlink), ArgCondition.Eq32(2, NetlinkRoute));
        Add("socket", deny);

        // personality(unsigned int): only the default persona (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE...
        // weaken the process; the remaining personas emulate other systems).
        foreach (uint persona in AllowedPersonalities)
            Add("personality", SeccompAction.Allow, ArgCondition.Eq32(0, persona));
        Add("personality", deny);
        return rules.ToImmutable();
    }

    /// <summary>The rule that answers clone3 ENOSYS: a redirect to clone(2), not a refusal (not recorded under log).</summary>
    public static bool IsClone3Redirect(SeccompRule rule, SyscallTable table) =>
        rule.Syscall == table.Number("clone3") && rule.Action == SeccompAction.Errno(ENOSYS) && rule.Conditions.IsEmpty;

    /// <summary>The default profile compiled for x86_64 as the planner installs it for a policy that does not change it.</summary>
    public static CompiledFilter Build() =>
        SeccompProfile.Build(true, [], [], SeccompAction.Errno(EPERM), log: false, Architecture.X86_64).Filter
        ?? throw new InvalidOperationException("the default seccomp profile does not compile");
}
