using Xunit;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Tests.Seccomp;

public sealed class DefaultFilterTests
{
    private static readonly BpfInstruction[] s_program = DefaultFilter.Build();
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
}
