using System.Globalization;
using System.Text.Json;
using Sandboxrun.Seccomp;
using Sandboxrun.Tests.Infrastructure;
using Xunit;

namespace Sandboxrun.Tests.Seccomp;

/// <summary>
/// process.seccomp.log on the real kernel: refusals become user notifications that the
/// supervisor answers with the errno the plain filter would give and records as
/// <c>seccomp.denied</c> audit events. The probe makes the calls from inside the sandbox, with
/// arguments that make them fail harmlessly were they allowed (see <see cref="SeccompSandboxTests"/>).
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class SeccompLogSandboxTests(SandboxFixture f)
{
    /// <summary>(case, syscall, arguments): refused by the default profile.</summary>
    private static readonly (string Label, string Name, string[] Args)[] s_cases =
    [
        ("ptrace", "ptrace", ["7", "2147483647"]),
        ("keyctl", "keyctl", ["0xffff", "0", "0", "0", "0"]),
        ("unshare NEWUSER", "unshare", ["0x10000000"]),
        ("socket AF_PACKET", "socket", ["17", "3", "0"]),
        ("ioctl TIOCSTI high bits", "ioctl", ["-1", "0x123400005412", "0"]),
        ("bpf", "bpf", ["-1", "0", "0"]),
        ("mount", "mount", ["0", "0", "0", "0", "0"]),
    ];

    public static TheoryData<string, string, string[], bool> Refused
    {
        get
        {
            var data = new TheoryData<string, string, string[], bool>();
            foreach (bool rootless in SandboxFixture.Modes)
                foreach ((string label, string name, string[] args) in s_cases)
                    data.Add(label, name, args, rootless);
            return data;
        }
    }

    public static TheoryData<bool> Modes => SandboxFixture.Modes;

    private sealed record Run(ProcessResult Result, List<JsonElement> Events)
    {
        public List<JsonElement> Denials => [.. Events.Where(e => e.GetProperty("event").GetString() == "seccomp.denied")];

        public override string ToString() => Result + "--- audit\n" + string.Join('\n', Events.Select(e => e.GetRawText()));
    }

    private string Policy(string seccomp)
    {
        string path = Path.Combine(f.NewWorkdir(), "policy.yaml");
        File.WriteAllText(path, $"version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only: [/]\nprocess:\n  seccomp: {seccomp}\n");
        return path;
    }

    /// <summary>The probe under a policy whose process.seccomp is <paramref name="seccomp"/>, with an
    /// audit log (kept out of the agent's writable working directory) unless <paramref name="audit"/> is false.</summary>
    private Run Probe(bool rootless, string seccomp, string[] probeArgs, bool audit = true)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string log = Path.Combine(f.NewWorkdir(forUser: rootless), "audit.jsonl");
        string[] options = audit ? ["--policy", Policy(seccomp), "--audit", log] : ["--policy", Policy(seccomp)];
        ProcessResult r = f.RunProbe(options, probeArgs, rootless, f.NewWorkdir(forUser: rootless), timeout: TimeSpan.FromSeconds(60));
        List<JsonElement> events = File.Exists(log)
            ? [.. File.ReadAllLines(log).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement)]
            : [];
        return new Run(r, events);
    }

    private static string Nr(string name) => SyscallTable.X86_64[name].ToString(CultureInfo.InvariantCulture);

    private static string[] SyscallArgs(string name, string[] args) => ["syscall", Nr(name), .. args];

    private static string Hex(string arg) => "0x" + (arg.StartsWith("0x", StringComparison.Ordinal)
        ? ulong.Parse(arg.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
        : (ulong)long.Parse(arg, CultureInfo.InvariantCulture)).ToString("x", CultureInfo.InvariantCulture);

    [SkippableTheory]
    [MemberData(nameof(Refused))]
    public void ARefusalGetsTheSameErrnoAndExactlyOneEvent(string label, string name, string[] args, bool rootless)
    {
        Run plain = Probe(rootless, "{ log: false }", SyscallArgs(name, args));
        Run logged = Probe(rootless, "{ log: true }", SyscallArgs(name, args));
        Assert.True(plain.Result.LastLine == "err EPERM", $"{label} without log: {plain}");
        Assert.True(logged.Result.ExitCode == 1 && logged.Result.LastLine == plain.Result.LastLine, $"{label} with log: {logged}");
        Assert.Empty(plain.Denials);

        JsonElement e = Assert.Single(logged.Denials);
        Assert.Equal(name, e.GetProperty("syscall").GetString());
        Assert.Equal(SyscallTable.X86_64[name], e.GetProperty("nr").GetUInt32());
        Assert.Equal("EPERM", e.GetProperty("errno").GetString());
        Assert.Equal(f.Probe, e.GetProperty("binary").GetString());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f.Probe))), e.GetProperty("sha256").GetString());
        Assert.True(e.GetProperty("pid").GetInt32() > 1);
        string[] logged6 = [.. e.GetProperty("args").EnumerateArray().Select(a => a.GetString()!)];
        Assert.Equal(6, logged6.Length);
        string[] expected = [.. args.Select(Hex), .. Enumerable.Repeat("0x0", 6 - args.Length)];
        Assert.Equal(expected, logged6);
        // The event is written while the agent runs: between its start and its exit.
        string?[] order = [.. logged.Events.Select(x => x.GetProperty("event").GetString())];
        Assert.True(Array.IndexOf(order, "sandbox.start") < Array.IndexOf(order, "seccomp.denied")
            && Array.IndexOf(order, "seccomp.denied") < Array.IndexOf(order, "sandbox.exit"), logged.ToString());
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void APolicyBlockIsRecordedToo(bool rootless)
    {
        Run r = Probe(rootless, "{ log: true, block: [getppid] }", ["syscall", Nr("getppid")]);
        Assert.True(r.Result.LastLine == "err EPERM", r.ToString());
        JsonElement e = Assert.Single(r.Denials);
        Assert.Equal("getppid", e.GetProperty("syscall").GetString());
        Assert.Equal("EPERM", e.GetProperty("errno").GetString());
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void AllowedCallsProduceNoEvents(bool rootless)
    {
        Run getppid = Probe(rootless, "{ log: true }", ["syscall-loop", "1000", Nr("getppid")]);
        Assert.True(getppid.Result.ExitCode == 0 && getppid.Result.Stdout.Contains("outcomes=ok:1000", StringComparison.Ordinal), getppid.ToString());
        Run unix = Probe(rootless, "{ log: true }", SyscallArgs("socket", ["1", "1", "0"]));        // AF_UNIX: the allowed form of a filtered call
        Assert.StartsWith("ok ", unix.Result.LastLine, StringComparison.Ordinal);
        Run tcgets = Probe(rootless, "{ log: true }", SyscallArgs("ioctl", ["-1", "0x5401", "0"])); // refused by the kernel, not the filter
        Assert.Equal("err EBADF", tcgets.Result.LastLine);
        Assert.Empty(getppid.Denials);
        Assert.Empty(unix.Denials);
        Assert.Empty(tcgets.Denials);
        Assert.Contains(getppid.Events, e => e.GetProperty("event").GetString() == "sandbox.exit");
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void Clone3StaysEnosysWithNoEvent(bool rootless)
    {
        Run r = Probe(rootless, "{ log: true }", SyscallArgs("clone3", ["0", "0"]));
        Assert.True(r.Result.LastLine == "err ENOSYS", r.ToString());
        Assert.Empty(r.Denials);
    }

    /// <summary>A refused call in a loop: each waits for the supervisor's answer, none is lost or
    /// answered twice, and the agent finishes.</summary>
    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void AThousandRefusalsInALoopAreAllAnsweredAndRecorded(bool rootless)
    {
        Run r = Probe(rootless, "{ log: true }", ["syscall-loop", "1000", Nr("ptrace"), "7", "2147483647"]);
        Assert.True(r.Result.ExitCode == 1 && r.Result.Stdout.Contains("outcomes=EPERM:1000\n", StringComparison.Ordinal), r.Result.ToString());
        Assert.Equal(1000, r.Denials.Count);
        Assert.All(r.Denials, e => Assert.Equal("ptrace", e.GetProperty("syscall").GetString()));
        Assert.Single(r.Denials.Select(e => e.GetProperty("pid").GetInt32()).Distinct());
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void WithoutAnAuditLogRefusalsAreStillAnswered(bool rootless)
    {
        Run r = Probe(rootless, "{ log: true }", ["syscall-loop", "200", Nr("ptrace"), "7", "2147483647"], audit: false);
        Assert.True(r.Result.ExitCode == 1 && r.Result.Stdout.Contains("outcomes=EPERM:200\n", StringComparison.Ordinal), r.Result.ToString());
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void AnX32CallIsRecordedByNumber(bool rootless)
    {
        Run r = Probe(rootless, "{ log: true }", ["x32", "39"]);
        Assert.True(r.Result.LastLine == "err EPERM", r.ToString());
        JsonElement e = Assert.Single(r.Denials);
        Assert.Equal("x32:39", e.GetProperty("syscall").GetString());
        Assert.Equal(0x40000000u | 39, e.GetProperty("nr").GetUInt32());
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void KillActionsStillKillAndAreNotNotified(bool rootless)
    {
        Run r = Probe(rootless, "{ log: true, default_action: kill }", SyscallArgs("ptrace", ["7", "2147483647"]));
        Assert.True(r.Result.ExitCode == 128 + 31, r.ToString());
        Assert.Empty(r.Denials);
        Assert.Contains("records nothing", r.Result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Processes the agent starts inherit the filter, and the supervisor's answers reach each of them.</summary>
    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void ChildProcessesAreAnsweredAndNamed(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        Skip.IfNot(File.Exists("/usr/bin/unshare"), "util-linux unshare is not installed");
        string log = Path.Combine(f.NewWorkdir(forUser: rootless), "audit.jsonl");
        ProcessResult r = f.Run(["--policy", Policy("{ log: true }"), "--audit", log, "--", "sh", "-c", "unshare -U true; echo status=$?"], rootless);
        Assert.True(r.ExitCode == 0 && r.Stdout.Contains("status=1", StringComparison.Ordinal) && r.Stderr.Contains("Operation not permitted", StringComparison.Ordinal), r.ToString());
        List<JsonElement> events = [.. File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement)];
        JsonElement e = Assert.Single(events, x => x.GetProperty("event").GetString() == "seccomp.denied");
        Assert.Equal("unshare", e.GetProperty("syscall").GetString());
        Assert.Equal("/usr/bin/unshare", e.GetProperty("binary").GetString());
        // A refusal right after execve still comes after the sandbox's start in the log.
        Assert.Equal(["policy.load", "sandbox.start", "seccomp.denied", "sandbox.exit"], events.Select(x => x.GetProperty("event").GetString()));
    }

    /// <summary>The stage's own calls after the filter is installed (execve) are answered too: a
    /// blocked execve is reported as the command failing to execute, not a hang.</summary>
    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void ABlockedExecveIsAnsweredAndReported(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string log = Path.Combine(f.NewWorkdir(forUser: rootless), "audit.jsonl");
        ProcessResult r = f.Run(["--policy", Policy("{ log: true, block: [execve] }"), "--audit", log, "--", "/bin/true"], rootless);
        Assert.True(r.ExitCode == 126 && r.Stderr.Contains("cannot execute: EPERM", StringComparison.Ordinal), r.ToString());
        JsonElement e = Assert.Single(File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement), x => x.GetProperty("event").GetString() == "seccomp.denied");
        Assert.Equal("execve", e.GetProperty("syscall").GetString());
        Assert.Equal(f.Sandboxrun, e.GetProperty("binary").GetString()); // the stage runs in a clone of the supervisor
    }

    /// <summary>The listener is handed over with sendmsg: a policy that blocks sendmsg runs without
    /// one under best_effort (plain refusals, a notice) instead of failing to start.</summary>
    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void BlockingSendmsgRunsWithoutTheLogUnderBestEffort(bool rootless)
    {
        Run r = Probe(rootless, "{ log: true, block: [sendmsg] }\nlandlock:\n  compatibility: best_effort", SyscallArgs("ptrace", ["7", "2147483647"]));
        Assert.True(r.Result.LastLine == "err EPERM", r.ToString());
        Assert.Empty(r.Denials);
        Assert.Contains("sendmsg blocked", r.Result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void PolicyCheckSaysDenialsAreRecorded()
    {
        ProcessResult on = f.Run(["policy", "check", Policy("{ log: true }")]);
        Assert.True(on.ExitCode == 0, on.ToString());
        Assert.Contains("seccomp.denied", on.Stdout, StringComparison.Ordinal);
        ProcessResult off = f.Run(["policy", "check", Policy("{ log: false }")]);
        Assert.DoesNotContain("seccomp.denied", off.Stdout, StringComparison.Ordinal);
    }
}
