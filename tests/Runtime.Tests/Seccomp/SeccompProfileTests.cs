using Xunit;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Tests.Seccomp;

/// <summary>process.seccomp (default_profile, block, allow, default_action, log) -> filter.</summary>
public sealed class SeccompProfileTests
{
    private static readonly SyscallTable s_t = SyscallTable.X86_64;
    private static readonly SeccompAction s_eperm = SeccompAction.Errno(1);
    private static readonly uint s_retEperm = Bpf.RetErrno(1);

    private static SeccompProfileResult Build(bool defaultProfile = true, string[]? block = null, string[]? allow = null,
        SeccompAction? deny = null, bool log = false) =>
        SeccompProfile.Build(defaultProfile, block ?? [], allow ?? [], deny ?? s_eperm, log, Architecture.X86_64);

    private static uint Eval(SeccompProfileResult r, string name, params ulong[] args)
    {
        Assert.True(r.Filter is not null, string.Join("\n", r.Errors));
        return BpfInterpreter.Run(r.Filter!.Program, Bpf.AuditArchX86_64, s_t[name], args);
    }

    [Fact]
    public void DefaultIsTheDefaultProfile()
    {
        SeccompProfileResult r = Build();
        Assert.Empty(r.Errors);
        Assert.Empty(r.Unenforced);
        Assert.Equal(DefaultFilter.Build().Program.ToArray(), r.Filter!.Program.ToArray());
        Assert.Equal(s_retEperm, Eval(r, "ptrace"));
        Assert.Equal(Bpf.RetAllow, Eval(r, "getppid"));
    }

    [Fact]
    public void BlockAddsRefusalsOnTopOfTheDefaults()
    {
        SeccompProfileResult r = Build(block: ["getppid", "memfd_create"]);
        Assert.Equal(s_retEperm, Eval(r, "getppid"));
        Assert.Equal(s_retEperm, Eval(r, "memfd_create"));
        Assert.Equal(s_retEperm, Eval(r, "ptrace"));
        Assert.Equal(Bpf.RetAllow, Eval(r, "getpid"));
    }

    [Fact]
    public void BlockingACallWithAnArgumentFilterRefusesItWhole()
    {
        SeccompProfileResult r = Build(block: ["socket"]);
        Assert.Equal(s_retEperm, Eval(r, "socket", 1, 1, 0)); // even AF_UNIX
    }

    [Fact]
    public void AllowRemovesDefaultRules()
    {
        SeccompProfileResult r = Build(allow: ["ptrace", "socket", "io_uring_setup"]);
        Assert.Empty(r.Errors);
        Assert.Equal(Bpf.RetAllow, Eval(r, "ptrace"));
        Assert.Equal(Bpf.RetAllow, Eval(r, "io_uring_setup"));
        Assert.Equal(Bpf.RetAllow, Eval(r, "socket", 17, 3, 0)); // AF_PACKET: the family filter is gone too
        Assert.Equal(s_retEperm, Eval(r, "io_uring_enter")); // only what was named
        Assert.Equal(s_retEperm, Eval(r, "bpf"));
    }

    [Fact]
    public void AllowingWhatIsNotBlockedIsANotice()
    {
        SeccompProfileResult r = Build(allow: ["read"]);
        Assert.Empty(r.Errors);
        Assert.Contains(r.Notices, n => n.Contains("'read' is not blocked", StringComparison.Ordinal));
    }

    [Fact]
    public void AllowingClone3AloneWarnsThatNamespaceChecksCanBeBypassed()
    {
        SeccompProfileResult r = Build(allow: ["clone3"]);
        Assert.Equal(Bpf.RetAllow, Eval(r, "clone3"));
        Assert.Contains(r.Notices, n => n.Contains("clone3", StringComparison.Ordinal) && n.Contains("bypassed", StringComparison.Ordinal));
    }

    [Fact]
    public void DefaultActionKillKillsAndKeepsClone3Enosys()
    {
        SeccompProfileResult r = Build(deny: SeccompAction.KillProcess);
        Assert.Equal(Bpf.RetKillProcess, Eval(r, "ptrace"));
        Assert.Equal(Bpf.RetKillProcess, Eval(r, "unshare", 0x10000000));
        Assert.Equal(Bpf.RetErrno(38), Eval(r, "clone3"));
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(r.Filter!.Program, Bpf.AuditArchX86_64, Bpf.X32SyscallBit | 39));
    }

    [Fact]
    public void DefaultActionLogLetsBlockedCallsThroughButNeverX32()
    {
        SeccompProfileResult r = Build(deny: SeccompAction.Log);
        Assert.Equal(Bpf.RetLog, Eval(r, "ptrace"));
        Assert.Equal(s_retEperm, BpfInterpreter.Run(r.Filter!.Program, Bpf.AuditArchX86_64, Bpf.X32SyscallBit | 39));
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(r.Filter!.Program, Bpf.AuditArchI386, 20));
        Assert.Contains(r.Notices, n => n.Contains("audit", StringComparison.Ordinal));
    }

    [Fact]
    public void DefaultProfileOffInstallsNothingUnlessSomethingIsBlocked()
    {
        SeccompProfileResult off = Build(defaultProfile: false);
        Assert.Null(off.Filter);
        Assert.Empty(off.Errors);
        Assert.Contains(off.Notices, n => n.Contains("turned off", StringComparison.Ordinal));

        SeccompProfileResult blocks = Build(defaultProfile: false, block: ["ptrace"]);
        Assert.Equal(s_retEperm, Eval(blocks, "ptrace"));
        Assert.Equal(Bpf.RetAllow, Eval(blocks, "bpf"));
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(blocks.Filter!.Program, Bpf.AuditArchI386, 26)); // the arch check stays
    }

    [Fact]
    public void WithoutLogNothingIsNotified()
    {
        SeccompProfileResult r = Build();
        Assert.Null(r.Notified);
        Assert.DoesNotContain(r.Filter!.Program, i => i.Code == Bpf.RetK && i.K == Bpf.RetUserNotif);
    }

    [Fact]
    public void LogTurnsEveryErrnoRefusalIntoAUserNotification()
    {
        SeccompProfileResult r = Build(block: ["getppid"], log: true);
        Assert.Empty(r.Errors);
        Assert.Empty(r.Unenforced);
        Assert.NotNull(r.Notified);
        Assert.Equal(Bpf.RetUserNotif, Eval(r, "ptrace"));
        Assert.Equal(Bpf.RetUserNotif, Eval(r, "getppid"));                 // a policy block
        Assert.Equal(Bpf.RetUserNotif, Eval(r, "unshare", 0x10000000));     // argument rules
        Assert.Equal(Bpf.RetUserNotif, Eval(r, "socket", 17, 3, 0));
        Assert.Equal(Bpf.RetUserNotif, Eval(r, "ioctl", 0, 0x123400005412));
        Assert.Equal(Bpf.RetUserNotif, BpfInterpreter.Run(r.Filter!.Program, Bpf.AuditArchX86_64, Bpf.X32SyscallBit | 39));
        // Allowed calls and allowed forms are untouched, a foreign ABI still kills, clone3 stays a plain ENOSYS.
        Assert.Equal(Bpf.RetAllow, Eval(r, "getpid"));
        Assert.Equal(Bpf.RetAllow, Eval(r, "socket", 1, 1, 0));
        Assert.Equal(Bpf.RetAllow, Eval(r, "unshare", 0x400));
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(r.Filter!.Program, Bpf.AuditArchI386, 20));
        Assert.Equal(Bpf.RetErrno(38), Eval(r, "clone3"));

        // The answer to each notification is the errno of the rules as stated.
        Assert.Equal(s_eperm, r.Notified!.Evaluate(Bpf.AuditArchX86_64, s_t["ptrace"], [7, 1]));
        Assert.Equal(s_eperm, r.Notified.Evaluate(Bpf.AuditArchX86_64, s_t["socket"], [17, 3, 0]));
        Assert.Equal(s_eperm, r.Notified.Evaluate(Bpf.AuditArchX86_64, Bpf.X32SyscallBit | 39, []));
        Assert.Equal(SeccompAction.Allow, r.Notified.Evaluate(Bpf.AuditArchX86_64, s_t["socket"], [1, 1, 0]));
    }

    /// <summary>The program with log answers exactly where the plain one refuses with an errno, and
    /// the same elsewhere; the stated rules give the plain program's answer for every input.</summary>
    [Fact]
    public void LogProgramNotifiesExactlyWhereThePlainProgramRefuses()
    {
        SeccompProfileResult plain = Build(block: ["getppid", "memfd_create"]);
        SeccompProfileResult logged = Build(block: ["getppid", "memfd_create"], log: true);
        SeccompRuleSet stated = logged.Notified!;
        int notified = 0;
        foreach (FilterInput input in FilterHarness.Inputs(stated.Rules, Architecture.X86_64, new Random(5), randomVectors: 2))
        {
            uint before = BpfInterpreter.Run(plain.Filter!.Program, input.Arch, input.Nr, input.Args);
            uint after = BpfInterpreter.Run(logged.Filter!.Program, input.Arch, input.Nr, input.Args);
            Assert.Equal(before, stated.Evaluate(input.Arch, input.Nr, input.Args).ToReturnValue());
            bool redirect = input.Arch == Bpf.AuditArchX86_64 && input.Nr == s_t["clone3"];
            bool refused = (before & Bpf.RetActionFull) == Bpf.RetErrnoBase && !redirect;
            Assert.True(after == (refused ? Bpf.RetUserNotif : before), $"{input}: plain {FilterHarness.Name(before)}, with log {FilterHarness.Name(after)}");
            notified += refused ? 1 : 0;
        }
        Assert.True(notified > 100, notified.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void LogRecordsNothingUnderKillAndOnlyX32UnderLog()
    {
        SeccompProfileResult kill = Build(deny: SeccompAction.KillProcess, log: true);
        Assert.Null(kill.Notified);
        Assert.DoesNotContain(kill.Filter!.Program, i => i.Code == Bpf.RetK && i.K == Bpf.RetUserNotif);
        Assert.Equal(Bpf.RetKillProcess, Eval(kill, "ptrace"));
        Assert.Contains(kill.Notices, n => n.Contains("records nothing", StringComparison.Ordinal));

        SeccompProfileResult log = Build(deny: SeccompAction.Log, log: true);
        Assert.NotNull(log.Notified);
        Assert.Equal(Bpf.RetLog, Eval(log, "ptrace"));
        Assert.Equal(Bpf.RetUserNotif, BpfInterpreter.Run(log.Filter!.Program, Bpf.AuditArchX86_64, Bpf.X32SyscallBit | 39));
        Assert.Contains(log.Notices, n => n.Contains("only refused x32 calls", StringComparison.Ordinal));
    }

    /// <summary>The stage hands the listener over with sendmsg: with sendmsg blocked there is no
    /// listener (the program stays plain) and log is reported as not enforced.</summary>
    [Fact]
    public void BlockingSendmsgUnderLogInstallsThePlainProgramAndSaysSo()
    {
        SeccompProfileResult r = Build(block: ["sendmsg"], log: true);
        Assert.Null(r.Notified);
        Assert.Equal(s_retEperm, Eval(r, "sendmsg", 3, 0, 0));
        Assert.Equal(s_retEperm, Eval(r, "ptrace"));
        Assert.Contains(r.Unenforced, u => u.Contains("sendmsg", StringComparison.Ordinal));
        Assert.Equal(Build(block: ["sendmsg"]).Filter!.Program.ToArray(), r.Filter!.Program.ToArray());
        Assert.Empty(Build(log: true).Unenforced);
    }

    [Fact]
    public void AnErrnoDefaultActionIsNotifiedButSendmsgStaysPlain()
    {
        var stated = new SeccompRuleSet([new SeccompRule(s_t["getpid"], SeccompAction.Allow)], s_eperm, Architecture.X86_64, s_eperm);
        SeccompRuleSet installed = SeccompProfile.WithNotifications(stated);
        CompiledFilter program = FilterHarness.Compile(installed.Rules, installed.DefaultAction, options: new CompileOptions(X32Action: installed.X32Action));
        Assert.Equal(Bpf.RetAllow, BpfInterpreter.Run(program.Program, Bpf.AuditArchX86_64, s_t["getpid"]));
        Assert.Equal(Bpf.RetUserNotif, BpfInterpreter.Run(program.Program, Bpf.AuditArchX86_64, s_t["getppid"]));
        Assert.Equal(s_retEperm, BpfInterpreter.Run(program.Program, Bpf.AuditArchX86_64, s_t["sendmsg"]));
    }

    [Fact]
    public void UnknownAndContradictoryNamesAreErrors()
    {
        SeccompProfileResult r = Build(block: ["ptrce"], allow: ["bpf"]);
        Assert.Null(r.Filter);
        Assert.Contains("unknown syscall 'ptrce' (did you mean 'ptrace'?)", r.Errors);
        SeccompProfileResult both = Build(block: ["bpf"], allow: ["bpf"]);
        Assert.Contains(both.Errors, e => e.Contains("both block and allow", StringComparison.Ordinal));
    }
}
