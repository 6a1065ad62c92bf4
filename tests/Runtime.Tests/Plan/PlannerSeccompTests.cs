using Xunit;
using System.Collections.Immutable;
using Sandboxrun.Plan;
using Sandboxrun.Policy;
using Sandboxrun.Seccomp;
using Sandboxrun.Tests.Seccomp;

namespace Sandboxrun.Tests.Plan;

/// <summary>The planner's seccomp step: process.seccomp becomes the program in the plan.</summary>
public sealed class PlannerSeccompTests
{
    private static HostFacts Host()
    {
        var dirs = new HashSet<string>(["/", "/tmp", "/etc", "/usr", "/proc", "/dev", "/sys", "/run", "/home", "/root", "/work", "/work/proj"]);
        var files = new HashSet<string>(["/etc/passwd", "/etc/group"]);
        return new HostFacts(
            0, 0, "root", "/root", ["/root"],
            "root:x:0:0:root:/root:/bin/bash\n", "root:x:0:\n",
            ImmutableDictionary<string, string>.Empty.Add("PATH", "/usr/bin:/bin"),
            p => dirs.Contains(p) ? HostPathKind.Directory : files.Contains(p) ? HostPathKind.File : HostPathKind.Missing,
            _ => (0u, 0u),
            _ => null,
            null,
            LandlockAbi: 7);
    }

    private static PlanResult Plan(string seccompYaml, string compatibility = "hard_requirement", HostFacts? host = null)
    {
        string yaml = $"version: 1\nlandlock:\n  compatibility: {compatibility}\nfilesystem_policy:\n  read_only: [/]\n  include_workdir: true\nprocess:\n  seccomp: {seccompYaml}\n";
        PolicyLoadResult policy = PolicyLoader.Parse(yaml, "test.yaml");
        Assert.True(policy.Ok, string.Join("\n", policy.Errors));
        return Planner.Plan(policy.Policy!, new Invocation(["sh"], [], "/work/proj", null, 0, null), host ?? Host());
    }

    private static uint Eval(SandboxPlan plan, string name, params ulong[] args) =>
        BpfInterpreter.Run([.. plan.Seccomp.Select(i => new BpfInstruction(i.Code, i.Jt, i.Jf, i.K))], Bpf.AuditArchX86_64, SyscallTable.X86_64[name], args);

    [Fact]
    public void BlockAllowAndDefaultActionAreEnforced()
    {
        PlanResult r = Plan("{ block: [getppid], allow: [ptrace], default_action: kill }");
        Assert.True(r.Plan is not null, string.Join("\n", r.Errors));
        Assert.Equal(Bpf.RetKillProcess, Eval(r.Plan!, "getppid"));
        Assert.Equal(Bpf.RetAllow, Eval(r.Plan!, "ptrace"));
        Assert.Equal(Bpf.RetKillProcess, Eval(r.Plan!, "bpf"));
        Assert.DoesNotContain(r.Plan!.Notices, n => n.Layer == "seccomp" && n.Message.Contains("skipped", StringComparison.Ordinal));
    }

    [Fact]
    public void TheDefaultPolicyGetsTheDefaultProfile()
    {
        PlanResult r = Planner.Plan(DefaultPolicy.Load(), new Invocation(["sh"], [], "/work/proj", null, 0, null), Host());
        Assert.True(r.Plan is not null, string.Join("\n", r.Errors));
        Assert.Equal(DefaultFilter.Build().Program.Length, r.Plan!.Seccomp.Length);
        Assert.Equal(Bpf.RetErrno(1), Eval(r.Plan, "ptrace"));
    }

    [Fact]
    public void LogInstallsANotifyingProgramAndTheRulesThatAnswerIt()
    {
        PlanResult r = Plan("{ log: true, block: [getppid] }");
        Assert.True(r.Plan is not null, string.Join("\n", r.Errors));
        Assert.NotNull(r.Plan!.SeccompNotified);
        Assert.Equal(Bpf.RetUserNotif, Eval(r.Plan, "ptrace"));
        Assert.Equal(Bpf.RetUserNotif, Eval(r.Plan, "getppid"));
        Assert.Equal(Bpf.RetErrno(38), Eval(r.Plan, "clone3"));
        Assert.Equal(SeccompAction.Errno(1), r.Plan.SeccompNotified!.Evaluate(Bpf.AuditArchX86_64, SyscallTable.X86_64["getppid"], []));
        Assert.DoesNotContain(r.Plan.Notices, n => n.Layer == "seccomp");

        PlanResult plain = Plan("{ block: [getppid] }");
        Assert.Null(plain.Plan!.SeccompNotified);
        Assert.Equal(Bpf.RetErrno(1), Eval(plain.Plan, "ptrace"));
    }

    [Fact]
    public void WithoutUserNotifLogIsRefusedUnderHardRequirementAndSkippedUnderBestEffort()
    {
        HostFacts old = Host() with { SeccompUserNotif = false };
        PlanResult hard = Plan("{ log: true }", host: old);
        Assert.Null(hard.Plan);
        Assert.Contains(hard.Errors, e => e.ExitCode == 125 && e.Message.Contains("process.seccomp.log", StringComparison.Ordinal));

        PlanResult soft = Plan("{ log: true }", "best_effort", old);
        Assert.True(soft.Plan is not null, string.Join("\n", soft.Errors));
        Assert.Contains(soft.Plan!.Notices, n => n.Layer == "seccomp" && n.Message.Contains("process.seccomp.log", StringComparison.Ordinal));
        Assert.Null(soft.Plan.SeccompNotified);
        Assert.Equal(Bpf.RetErrno(1), Eval(soft.Plan, "ptrace")); // the filter itself is still installed, plain
    }

    [Fact]
    public void BlockingSendmsgWithLogIsRefusedUnderHardRequirement()
    {
        PlanResult hard = Plan("{ log: true, block: [sendmsg] }");
        Assert.Null(hard.Plan);
        Assert.Contains(hard.Errors, e => e.ExitCode == 125 && e.Message.Contains("sendmsg", StringComparison.Ordinal));
    }

    [Fact]
    public void DefaultProfileOffMeansNoFilterAndANotice()
    {
        PlanResult r = Plan("{ default_profile: false }");
        Assert.True(r.Plan is not null, string.Join("\n", r.Errors));
        Assert.Empty(r.Plan!.Seccomp);
        Assert.Contains(r.Plan.Notices, n => n.Layer == "seccomp" && n.Message.Contains("turned off", StringComparison.Ordinal));
    }
}
