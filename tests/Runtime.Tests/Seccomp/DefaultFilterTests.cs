using Xunit;
using System.Collections.Immutable;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Tests.Seccomp;

public sealed class DefaultFilterTests
{
    private static readonly ImmutableArray<BpfInstruction> s_program = DefaultFilter.Build().Program;
    private const uint X64 = Bpf.AuditArchX86_64;
    private static readonly uint s_eperm = Bpf.RetErrno(1);

    private static uint Eval(uint nr, params ulong[] args) => BpfInterpreter.Run(s_program, X64, nr, args);

    [Fact]
    public void ForeignArchitectureIsKilled()
    {
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(s_program, 0x40000003 /* AUDIT_ARCH_I386 */, 359));
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(s_program, 0, 0));
    }

    [Fact]
    public void X32SyscallsAreDenied()
    {
        Assert.Equal(s_eperm, Eval(Bpf.X32SyscallBit | 41, 2, 1, 0));
        Assert.Equal(s_eperm, Eval(Bpf.X32SyscallBit | 425));
    }

    [Fact]
    public void EveryBlockedCallIsEpermAndOrdinaryCallsPass()
    {
        foreach ((string name, uint nr) in DefaultFilter.Blocked)
            Assert.True(Eval(nr) == s_eperm, name);
        foreach (uint nr in new uint[] { 0, 1, 2, 3, 9, 39, 59, 60, 231, 257 })
            Assert.Equal(Bpf.RetAllow, Eval(nr));
    }

    [Fact]
    public void Clone3IsEnosysSoLibcFallsBackToClone() => Assert.Equal(Bpf.RetErrno(38), Eval(DefaultFilter.NrClone3));

    [Theory]
    [InlineData(0x10000000u)] // CLONE_NEWUSER
    [InlineData(0x40000000u)] // CLONE_NEWNET
    [InlineData(0x00020000u)] // CLONE_NEWNS
    [InlineData(0x00000080u)] // CLONE_NEWTIME
    public void NamespaceFlagsAreRefused(uint flag)
    {
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrClone, flag | 17 /* SIGCHLD */));
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrUnshare, flag));
    }

    [Fact]
    public void PlainForksAndThreadsPass()
    {
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrClone, 0x01200011)); // fork: CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrClone, 0x003d0f00)); // pthread_create
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrUnshare, 0x00000400)); // CLONE_FILES
    }

    [Fact]
    public void TiocstiIsComparedOnTheLow32BitsOnly()
    {
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrIoctl, 0, DefaultFilter.Tiocsti));
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrIoctl, 0, (0x123UL << 32) | DefaultFilter.Tiocsti)); // CVE-2019-10063
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrIoctl, 0, DefaultFilter.Tioclinux));
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrIoctl, 0, 0x5401 /* TCGETS */));
    }

    [Fact]
    public void SocketFamiliesAndRawSockets()
    {
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrSocket, 1, 1, 0));
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrSocket, 2, 1, 0));
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrSocket, 10, 0x80802, 0)); // SOCK_DGRAM|CLOEXEC|NONBLOCK
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrSocket, 16, 3, 0)); // NETLINK_ROUTE
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrSocket, 16, 3, 9)); // NETLINK_AUDIT
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrSocket, 2, 3, 1)); // SOCK_RAW
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrSocket, 2, 0x80003, 1)); // SOCK_RAW|SOCK_CLOEXEC
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrSocket, 17, 3, 0)); // AF_PACKET
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrSocket, 40, 1, 0)); // AF_VSOCK
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrSocket, 31, 1, 0)); // AF_BLUETOOTH
    }

    [Fact]
    public void OnlyDefaultPersonalities()
    {
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrPersonality, 0xffffffff));
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrPersonality, 0));
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrPersonality, 0x0400000)); // READ_IMPLIES_EXEC
    }

    [Fact]
    public void ConstantsAreTheTablesNumbers()
    {
        SyscallTable t = SyscallTable.X86_64;
        Assert.Equal((t["clone"], t["unshare"], t["clone3"], t["ioctl"], t["socket"], t["personality"]),
            (DefaultFilter.NrClone, DefaultFilter.NrUnshare, DefaultFilter.NrClone3, DefaultFilter.NrIoctl, DefaultFilter.NrSocket, DefaultFilter.NrPersonality));
        Assert.All(DefaultFilter.Names, n => Assert.NotNull(t.Number(n)));
        Assert.Equal(DefaultFilter.Names.Length, DefaultFilter.Names.Distinct().Count());
    }

    [Fact]
    public void IssueListIsCovered()
    {
        string[] required =
        [
            "ptrace", "process_vm_readv", "process_vm_writev", "kexec_load", "kexec_file_load", "init_module", "finit_module",
            "delete_module", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
            "keyctl", "add_key", "request_key", "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
            "fsconfig", "fspick", "mount_setattr", "swapon", "swapoff", "reboot", "acct", "settimeofday", "clock_settime",
            "adjtimex", "clock_adjtime", "syslog", "quotactl", "lookup_dcookie", "name_to_handle_at", "open_by_handle_at",
            "setns", "iopl", "ioperm", "uselib",
        ];
        Assert.All(required, n => Assert.Contains(n, DefaultFilter.BlockedNames));
    }

    [Theory]
    [InlineData("memfd_create")]
    [InlineData("execve")]
    [InlineData("execveat")]
    [InlineData("seccomp")]
    [InlineData("getppid")]
    [InlineData("landlock_restrict_self")]
    [InlineData("pidfd_open")]
    public void CallsAgentsNeedAreAllowed(string name) => Assert.Equal(Bpf.RetAllow, Eval(SyscallTable.X86_64[name], 0, 0, 0));

    [Fact]
    public void CloneFlagsAreReadAsTheirLow32Bits()
    {
        // kernel_clone_args.flags = lower_32_bits(clone_flags): high bits are not namespace flags.
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrClone, 0xffff_ffff_0000_0011));
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrClone, 0xffff_ffff_1000_0011));
    }

    [Fact]
    public void SocketPacketOnInetIsRefused() // __sock_create turns (AF_INET, SOCK_PACKET) into AF_PACKET
    {
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrSocket, 2, 10, 0x300));
        Assert.Equal(s_eperm, Eval(DefaultFilter.NrSocket, 10, 10, 0));
        Assert.Equal(Bpf.RetAllow, Eval(DefaultFilter.NrSocket, 2, 2, 0)); // SOCK_DGRAM
    }

    [Fact]
    public void ProgramMatchesTheRuleModelOnBoundaryInputs()
    {
        ImmutableArray<SeccompRule> rules = DefaultFilter.Rules(SeccompAction.Errno(1));
        int n = FilterHarness.AssertMatchesModel(s_program, rules, SeccompAction.Allow, Architecture.X86_64, SeccompAction.Errno(1),
            FilterHarness.Inputs(rules, Architecture.X86_64, new Random(4), randomVectors: 20), "default profile");
        Assert.True(n > 2000);
    }

    [Fact]
    public void ProgramIsSmallAndShallow()
    {
        CompiledFilter f = DefaultFilter.Build();
        // 45 blocked calls in a handful of ranges, six argument filters (84 instructions, at most
        // 20 executed, when this was written).
        Assert.InRange(f.Stats.Instructions, 40, 100);
        Assert.InRange(f.Stats.MaxDepth, 8, 24);
        // A call without rules (getppid) passes the arch check and the search: about a dozen.
        Assert.InRange(BpfInterpreter.Steps(f.Program, Bpf.AuditArchX86_64, SyscallTable.X86_64["getppid"]), 6, 14);
        Assert.Equal(0, f.Stats.Trampolines);
    }
}
