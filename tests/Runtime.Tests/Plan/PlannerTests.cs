using Xunit;
using System.Collections.Immutable;
using Sandboxrun.Plan;
using Sandboxrun.Policy;

namespace Sandboxrun.Tests.Plan;

/// <summary>The planner is pure: these run without root against a fake host.</summary>
public sealed class PlannerTests
{
    private static HostFacts Host(uint uid = 0, params string[] existing)
    {
        var dirs = new HashSet<string>(["/", "/tmp", "/etc", "/usr", "/proc", "/dev", "/sys", "/run", "/home", "/home/u", "/root", "/work", "/work/proj", .. existing.Where(e => !e.Contains('.') || e.EndsWith(".ssh", StringComparison.Ordinal))]);
        var files = new HashSet<string>(["/etc/passwd", "/etc/group", "/etc/shadow", .. existing.Where(e => e.Contains('.') && !e.EndsWith(".ssh", StringComparison.Ordinal))]);
        return new HostFacts(
            uid, uid, uid == 0 ? "root" : "u", uid == 0 ? "/root" : "/home/u", ["/root", "/home/u"],
            "root:x:0:0:root:/root:/bin/bash\nu:x:1000:1000:u:/home/u:/bin/sh\n", "root:x:0:\nu:x:1000:\n",
            ImmutableDictionary<string, string>.Empty.Add("PATH", "/usr/bin:/bin").Add("OPENAI_API_KEY", "sk-1").Add("TERM", "xterm").Add("GH_TOKEN", "x"),
            p => dirs.Contains(p) ? HostPathKind.Directory : files.Contains(p) ? HostPathKind.File : HostPathKind.Missing,
            p => p.StartsWith("/home/u", StringComparison.Ordinal) ? (1000u, 1000u) : (0u, 0u),
            p => p is "/bin" or "/lib" or "/lib64" ? "usr" + p : null,
            null,
            LandlockAbi: 7);
    }

    private static Invocation Run(string workdir = "/work/proj", params string[] cmd) =>
        new([.. (cmd.Length == 0 ? ["sh"] : cmd)], [], workdir, null, 0, null);

    private static SandboxPlan Plan(SandboxPolicy policy, HostFacts host, Invocation? inv = null)
    {
        PlanResult r = Planner.Plan(policy, inv ?? Run(), host);
        Assert.True(r.Plan is not null, string.Join("\n", r.Errors));
        return r.Plan!;
    }

    private static SandboxPolicy Parse(string yaml)
    {
        PolicyLoadResult r = PolicyLoader.Parse(yaml, "test.yaml");
        Assert.True(r.Ok, string.Join("\n", r.Errors));
        return r.Policy!;
    }

    private static List<string> Descriptions(SandboxPlan p) => [.. p.Ops.Select(o => o.Description)];

    [Fact]
    public void DefaultPolicyBindsTheHostRootReadOnlyAndMasksSystemTrees()
    {
        SandboxPlan p = Plan(DefaultPolicy.Load(), Host());
        List<string> d = Descriptions(p);
        Assert.Contains("bind the host root", d);
        Assert.Contains("make the host root read-only", d);
        Assert.Contains("mask /sys", d);
        Assert.Contains("mask /run", d);
        Assert.Contains("mount a private /tmp", d);
        Assert.Contains("mount a fresh /proc", d);
        Assert.Contains("mount a minimal /dev", d);
        Assert.Contains("mask /etc/shadow", d);
        Assert.DoesNotContain("symlink /newroot/bin -> usr/bin", d); // the host root already has them
        Assert.Equal(NamespaceFlags.User | NamespaceFlags.Mount | NamespaceFlags.Pid | NamespaceFlags.Net | NamespaceFlags.Ipc | NamespaceFlags.Uts | NamespaceFlags.Cgroup, p.Namespaces);
        Assert.NotEmpty(p.Seccomp);
    }

    [Fact]
    public void SecretLocationsUnderEveryHomeAreMasked()
    {
        SandboxPlan p = Plan(DefaultPolicy.Load(), Host(0, "/home/u/.ssh", "/root/.aws", "/home/u/.netrc"));
        List<string> d = Descriptions(p);
        Assert.Contains("mask /home/u/.ssh", d);
        Assert.Contains("mask /root/.aws", d);
        Assert.Contains("mask /home/u/.netrc", d);
        Assert.DoesNotContain("mask /home/u/.kube", d); // absent on this host
    }

    [Fact]
    public void WorkdirUnderTmpIsMountedAfterThePrivateTmp()
    {
        SandboxPlan p = Plan(DefaultPolicy.Load(), Host(0, "/tmp/w"), Run("/tmp/w"));
        List<string> d = Descriptions(p);
        int tmp = d.IndexOf("mount a private /tmp");
        int wd = d.FindIndex(s => s.StartsWith("attach the working directory /tmp/w", StringComparison.Ordinal) || s.StartsWith("bind the working directory /tmp/w", StringComparison.Ordinal));
        Assert.True(tmp >= 0 && wd > tmp, string.Join("\n", d));
        Assert.Contains(p.Ops, o => o.Kind == SetupOpKind.Mkdir && o.Path == "/newroot/tmp/w");
        Assert.Equal("/tmp/w", p.Exec.Workdir);
    }

    [Fact]
    public void DenyInsideTheWorkdirIsMaskedAfterTheWorkdirBind()
    {
        SandboxPolicy policy = Parse("version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only: [/]\n  deny: [/work/proj/.env]\n");
        SandboxPlan p = Plan(policy, Host(0, "/work/proj/.env"));
        List<string> d = Descriptions(p);
        int wd = d.FindIndex(s => s.Contains("working directory /work/proj", StringComparison.Ordinal));
        int mask = d.IndexOf("mask /work/proj/.env");
        Assert.True(wd >= 0 && mask > wd, string.Join("\n", d));
    }

    [Fact]
    public void WorkdirInsideAMaskIsRefused()
    {
        PlanResult r = Planner.Plan(DefaultPolicy.Load(), Run("/root/.ssh"), Host(0, "/root/.ssh"));
        Assert.Null(r.Plan);
        Assert.Contains(r.Errors, e => e.ExitCode == 2 && e.Message.Contains("hidden by a mask", StringComparison.Ordinal));
    }

    [Fact]
    public void PolicyWithoutRootBuildsAReadOnlyTmpfsRootWithOnlyTheListedTrees()
    {
        SandboxPolicy policy = Parse("version: 1\nfilesystem_policy:\n  include_workdir: false\n  read_only: [/usr, /etc, /app]\n  read_write: [/tmp]\n");
        SandboxPlan p = Plan(policy, Host());
        List<string> d = Descriptions(p);
        Assert.Contains("mount the sandbox root tmpfs", d);
        Assert.DoesNotContain("bind the host root", d);
        Assert.Contains("bind /usr (read-only)", d);
        Assert.Contains("make the sandbox root tmpfs read-only", d);
        Assert.Contains("symlink /newroot/bin -> usr/bin", d); // merged /usr: /bin, /lib64 stay usable
        Assert.Contains("symlink /newroot/lib64 -> usr/lib64", d);
        Assert.Contains(p.Notices, n => n.Message.Contains("/app does not exist", StringComparison.Ordinal));
        Assert.Equal("/", p.Exec.Workdir);
    }

    [Fact]
    public void RootRunsTheAgentAsSandboxWithAnIdmappedWorkdir()
    {
        SandboxPlan p = Plan(DefaultPolicy.Load(), Host(0));
        Assert.Equal("sandbox", p.Identity.UserName);
        Assert.Equal(Planner.DefaultSandboxId, p.Identity.Uid);
        Assert.Equal($"0 0 1\n{Planner.DefaultSandboxId} {Planner.DefaultSandboxId} 1\n", p.Identity.UidMap);
        Assert.True(p.Identity.SetGroups);
        DetachedMount m = Assert.Single(p.DetachedMounts);
        Assert.Equal("/work/proj", m.HostPath);
        Assert.Equal($"0 {Planner.DefaultSandboxId} 1\n", m.UidMap);
        Assert.Contains(p.Ops, o => o.Description == "bind the sandbox's /etc/passwd");
    }

    [Fact]
    public void RootlessRunsTheAgentAsTheInvokingUser()
    {
        SandboxPlan p = Plan(DefaultPolicy.Load(), Host(1000), Run("/home/u"));
        Assert.Equal(1000u, p.Identity.Uid);
        Assert.Equal("u", p.Identity.UserName);
        Assert.Equal("1000 1000 1\n", p.Identity.UidMap);
        Assert.True(p.Identity.DenySetgroups);
        Assert.False(p.Identity.SetGroups);
        Assert.Empty(p.DetachedMounts);
    }

    [Fact]
    public void NumericRunAsUserIsUsedAndRootIsRefused()
    {
        SandboxPlan p = Plan(Parse("version: 1\nprocess:\n  run_as_user: 1234\n  run_as_group: 1234\n"), Host(0));
        Assert.Equal(1234u, p.Identity.Uid);
        Assert.Equal(1234u, p.Identity.Gid);
        PlanResult rootless = Planner.Plan(Parse("version: 1\nprocess:\n  run_as_user: nobody-here\n"), Run(), Host(0));
        Assert.Contains(rootless.Errors, e => e.ExitCode == 2 && e.Message.Contains("test.yaml:3:", StringComparison.Ordinal));
    }

    [Fact]
    public void EnvironmentIsAnAllowListWithoutSecrets()
    {
        Invocation inv = Run() with { Environment = [new("GH_TOKEN", null), new("X", "1")] };
        SandboxPlan p = Plan(DefaultPolicy.Load(), Host(0), inv);
        var env = p.Exec.Environment.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("/usr/bin:/bin", env["PATH"]);
        Assert.Equal("xterm", env["TERM"]);
        Assert.Equal("x", env["GH_TOKEN"]); // named explicitly
        Assert.Equal("1", env["X"]);
        Assert.False(env.ContainsKey("OPENAI_API_KEY"));
        Assert.Equal("sandbox", env["USER"]);
        Assert.Equal("/tmp", env["HOME"]);
    }

    [Theory]
    [InlineData("OPENAI_API_KEY", "x", true)]
    [InlineData("GITHUB_TOKEN", "x", true)]
    [InlineData("AWS_REGION", "x", true)]
    [InlineData("DB_PASSWORD", "x", true)]
    [InlineData("TERM", "sk-abc", true)]
    [InlineData("TERM", "ghp_abc", true)]
    [InlineData("LANG", "xoxb-1", true)]
    [InlineData("TERM", "xterm", false)]
    [InlineData("PATH", "/usr/bin", false)]
    public void SecretLookingVariables(string name, string value, bool secret) =>
        Assert.Equal(secret, SecretEnvironment.LooksSecret(name, value));

    [Fact]
    public void UnenforceableLayersAreErrorsUnderHardRequirementAndNoticesUnderBestEffort()
    {
        const string body = "\nprocess:\n  limits: { memory: 1Gi, nofile: 512 }\nfilesystem_policy:\n  read_only: [/]\n  execute: [/usr/bin]\n";
        PlanResult hard = Planner.Plan(Parse("version: 1\nlandlock:\n  compatibility: hard_requirement" + body), Run(), Host());
        Assert.Null(hard.Plan);
        Assert.Contains(hard.Errors, e => e.ExitCode == 125 && e.Message.Contains("process.limits.memory", StringComparison.Ordinal));

        SandboxPlan soft = Plan(Parse("version: 1\nlandlock:\n  compatibility: best_effort" + body), Host());
        Assert.Contains(soft.Notices, n => n.Message.Contains("process.limits.memory", StringComparison.Ordinal));
        Assert.Contains(soft.Limits, l => l.Resource == ResourceLimit.NoFile && l.Soft == 512);
    }

    [Fact]
    public void OpsEndWithPivotHostnameLoopbackAndWorkdir()
    {
        SandboxPlan p = Plan(DefaultPolicy.Load(), Host(), Run() with { Name = "agent-1" });
        List<string> d = Descriptions(p);
        int pivot = d.IndexOf("pivot_root . .");
        Assert.Equal(["detach the host root", "chdir /newroot", "pivot_root . .", "detach the staging tmpfs", "chdir /"], d.Skip(pivot - 2).Take(5));
        // Landlock rules name paths of the new root, so they come after the pivot.
        List<SetupOp> rules = [.. p.Ops.Skip(pivot + 3).TakeWhile(o => o.Kind == SetupOpKind.LandlockPath)];
        Assert.Contains(rules, o => o.Path == "/");
        Assert.Contains(rules, o => o.Path == "/tmp");
        Assert.Contains(rules, o => o.Path == "/work/proj");
        Assert.Equal(["sethostname agent-1", "bring up lo", "chdir /work/proj"], d.TakeLast(3));
        Assert.Equal("agent-1", p.Hostname);
    }
}
