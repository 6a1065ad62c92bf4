using System.Collections.Immutable;

namespace Sandboxrun.Seccomp;

/// <summary>
/// The default agent profile: allow by default, refuse with EPERM the calls an agent never
/// needs and that widen the kernel attack surface (x86_64). A straight-line program; the
/// seccomp compiler issue replaces it with a generated binary search over the same rules.
/// </summary>
public static class DefaultFilter
{
    private const int EPERM = 1;
    private const int ENOSYS = 38;

    /// <summary>Syscalls refused outright (name, x86_64 number).</summary>
    public static readonly ImmutableArray<(string Name, uint Nr)> Blocked =
    [
        ("ptrace", 101), ("process_vm_readv", 310), ("process_vm_writev", 311),
        ("kexec_load", 246), ("kexec_file_load", 320),
        ("init_module", 175), ("finit_module", 313), ("delete_module", 176),
        ("bpf", 321), ("perf_event_open", 298), ("userfaultfd", 323),
        ("io_uring_setup", 425), ("io_uring_enter", 426), ("io_uring_register", 427),
        ("keyctl", 250), ("add_key", 248), ("request_key", 249),
        ("mount", 165), ("umount2", 166), ("pivot_root", 155), ("move_mount", 429), ("open_tree", 428),
        ("fsopen", 430), ("fsconfig", 431), ("fsmount", 432), ("fspick", 433), ("mount_setattr", 442),
        ("open_tree_attr", 467),
        ("swapon", 167), ("swapoff", 168), ("reboot", 169), ("acct", 163),
        ("settimeofday", 164), ("clock_settime", 227), ("adjtimex", 159), ("clock_adjtime", 305),
        ("syslog", 103), ("quotactl", 179), ("quotactl_fd", 443), ("lookup_dcookie", 212),
        ("name_to_handle_at", 303), ("open_by_handle_at", 304), ("setns", 308),
        ("iopl", 172), ("ioperm", 173), ("uselib", 134),
    ];

    public const uint NrClone = 56, NrUnshare = 272, NrClone3 = 435, NrIoctl = 16, NrSocket = 41, NrPersonality = 135;

    /// <summary>CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME.</summary>
    public const uint NamespaceFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

    public const uint Tiocsti = 0x5412, Tioclinux = 0x541C;

    /// <summary>Socket families an agent may open; others (AF_PACKET, AF_VSOCK, AF_BLUETOOTH, ...) are refused.</summary>
    public const uint AfUnix = 1, AfInet = 2, AfInet6 = 10, AfNetlink = 16;

    public const uint SockRaw = 3, SockPacket = 10, SockTypeMask = 0xf;

    /// <summary>personality(2) values allowed (as Docker's profile): PER_LINUX, PER_LINUX32, UNAME26 variants, query.</summary>
    public static readonly ImmutableArray<uint> AllowedPersonalities = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

    public static BpfInstruction[] Build()
    {
        uint eperm = Bpf.RetErrno(EPERM);
        var a = new BpfAssembler();
        a.Load(Bpf.OffsetArch)
            .JumpIfEqual(Bpf.AuditArchX86_64, "native")
            .Return(Bpf.RetKillProcess) // i386 (int 0x80) or any foreign ABI: no rule here applies to it
            .Label("native")
            .Load(Bpf.OffsetNr)
            .JumpIfAnySet(Bpf.X32SyscallBit, "eperm");
        foreach ((_, uint nr) in Blocked)
            a.JumpIfEqual(nr, "eperm");
        a.JumpIfEqual(NrClone3, "enosys") // so libc falls back to clone(2), whose flags are checked
            .JumpIfEqual(NrClone, "clone")
            .JumpIfEqual(NrUnshare, "clone")
            .JumpIfEqual(NrIoctl, "ioctl")
            .JumpIfEqual(NrSocket, "socket")
            .JumpIfEqual(NrPersonality, "personality")
            .Return(Bpf.RetAllow);

        a.Label("clone") // clone(flags, ...) and unshare(flags): flags are argument 0
            .Load(Bpf.OffsetArgLow(0))
            .JumpIfAnySet(NamespaceFlags, "eperm")
            .Return(Bpf.RetAllow);

        // The kernel reads the ioctl request as 32 bits: compare only the low half (CVE-2019-10063).
        a.Label("ioctl")
            .Load(Bpf.OffsetArgLow(1))
            .JumpIfEqual(Tiocsti, "eperm")
            .JumpIfEqual(Tioclinux, "eperm")
            .Return(Bpf.RetAllow);

        a.Label("socket")
            .Load(Bpf.OffsetArgLow(0))
            .JumpIfEqual(AfUnix, "allow")
            .JumpIfEqual(AfInet, "inet")
            .JumpIfEqual(AfInet6, "inet")
            .JumpIfEqual(AfNetlink, "netlink")
            .Return(eperm)
            .Label("inet")
            .Load(Bpf.OffsetArgLow(1))
            .And(SockTypeMask)
            .JumpIfEqual(SockRaw, "eperm")
            .JumpIfEqual(SockPacket, "eperm")
            .Return(Bpf.RetAllow)
            .Label("netlink") // NETLINK_ROUTE only (getaddrinfo's AI_ADDRCONFIG reads it)
            .Load(Bpf.OffsetArgLow(2))
            .JumpIfEqual(0, "allow")
            .Return(eperm);

        a.Label("personality").Load(Bpf.OffsetArgLow(0));
        foreach (uint persona in AllowedPersonalities)
            a.JumpIfEqual(persona, "allow");
        a.Return(eperm);

        a.Label("allow").Return(Bpf.RetAllow)
            .Label("eperm").Return(eperm)
            .Label("enosys").Return(Bpf.RetErrno(ENOSYS));
        return a.Build();
    }
}
