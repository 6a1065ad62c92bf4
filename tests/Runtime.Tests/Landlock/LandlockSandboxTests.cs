using Sandboxrun.Tests.Infrastructure;
using Xunit;

namespace Sandboxrun.Tests.Landlock;

/// <summary>
/// Landlock in real sandboxes, checked by the probe from inside. The policies bind trees the
/// mount layer would allow (so what fails, fails because of Landlock) and run as root and
/// rootless.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class LandlockSandboxTests(SandboxFixture f)
{
    public static TheoryData<bool> Modes => SandboxFixture.Modes;

    /// <summary>A policy file in a fresh workdir; the probe's directory is always readable and executable.</summary>
    private (string Workdir, string Policy) Setup(bool rootless, string body)
    {
        string wd = f.NewWorkdir(rootless);
        string policy = Path.Combine(wd, "policy.yaml");
        File.WriteAllText(policy, body.Replace("PROBE_DIR", Path.GetDirectoryName(f.Probe), StringComparison.Ordinal));
        return (wd, policy);
    }

    private const string Narrow = """
        version: 1
        filesystem_policy:
          include_workdir: true
          read_only: [/usr, /etc, /lib, /lib64, /bin, PROBE_DIR]
          read_write: [/tmp, /dev/null]
        landlock:
          compatibility: hard_requirement
        """;

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void MountedButUngrantedPathsAreDenied(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        (string wd, string policy) = Setup(rootless, Narrow);
        // /proc and /dev/zero are mounted in every sandbox; this policy grants neither.
        Assert.StartsWith("err EACCES", f.RunProbe(["--policy", policy], ["fs-read", "/proc/self/status"], rootless, wd).LastLine, StringComparison.Ordinal);
        Assert.StartsWith("err EACCES", f.RunProbe(["--policy", policy], ["fs-read", "/dev/zero"], rootless, wd).LastLine, StringComparison.Ordinal);
        Assert.StartsWith("err EACCES", f.RunProbe(["--policy", policy], ["ls", "/proc"], rootless, wd).LastLine, StringComparison.Ordinal);
        // ... and `..` does not get around it.
        string dotdot = string.Concat(Enumerable.Repeat("../", wd.Count(c => c == '/'))) + "proc/self/status";
        Assert.StartsWith("err EACCES", f.RunProbe(["--policy", policy], ["fs-read", dotdot], rootless, wd).LastLine, StringComparison.Ordinal);
        // Granted paths work.
        Assert.Equal("ok 0", f.RunProbe(["--policy", policy], ["fs-read", "/dev/null"], rootless, wd).LastLine);
        Assert.Equal(0, f.RunProbe(["--policy", policy], ["fs-read", "/etc/hostname"], rootless, wd).ExitCode);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void ReadWriteTreeAllowsCreateDeleteRenameLinkTruncate(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        (string wd, string policy) = Setup(rootless, Narrow);
        string a = Path.Combine(wd, "a"), sub = Path.Combine(wd, "sub"), b = Path.Combine(sub, "b");
        string script = $"""
            set -e
            '{f.Probe}' fs-write {a}
            '{f.Probe}' truncate {a}
            '{f.Probe}' mkdir {sub}
            '{f.Probe}' rename {a} {b}
            '{f.Probe}' link {b} {a}
            '{f.Probe}' symlink {b} {wd}/s
            '{f.Probe}' fs-delete {a}
            """;
        ProcessResult r = f.Run(["--policy", policy, "-e", "PROBE_HOST_NS=" + f.HostNamespaces, "--", "sh", "-c", script], rootless, wd);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(b));
        Assert.False(File.Exists(a));
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void SymlinksAndProcFdsDoNotWidenAccess(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        (string wd, string policy) = Setup(rootless, Narrow);
        // A link in the writable tree to an ungranted path: following it is still denied.
        string script = $"ln -s /proc/self/status {wd}/l; '{f.Probe}' fs-read {wd}/l";
        ProcessResult r = f.Run(["--policy", policy, "-e", "PROBE_HOST_NS=" + f.HostNamespaces, "--", "sh", "-c", script], rootless, wd);
        Assert.StartsWith("err EACCES", r.LastLine, StringComparison.Ordinal);

        // An fd passed in read-only cannot be reopened for writing through /proc/self/fd.
        string ro = Path.Combine(f.Root, "ro-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllText(ro, "x");
        File.SetUnixFileMode(ro, (UnixFileMode)0x1B6); // 0666: only the sandbox may stop the write
        try
        {
            string inner = $"exec 3<{ro}; exec '{f.Sandboxrun}' --policy {policy} --preserve-fds 1 -e PROBE_HOST_NS='{f.HostNamespaces}' -- '{f.Probe}' fs-append /proc/self/fd/3";
            ProcessResult p = ProcessRunner.Run("sh", ["-c", inner], wd);
            Assert.StartsWith("err", p.LastLine, StringComparison.Ordinal);
            Assert.Equal("x", File.ReadAllText(ro));
        }
        finally
        {
            File.Delete(ro);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void ExecuteAllowListIsEnforcedByTheKernel(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        // Rootless runs cannot make memfds non-executable, so they need best_effort (and say what is skipped).
        (string wd, string policy) = Setup(rootless, Narrow.Replace(
            "  read_write: [/tmp, /dev/null]",
            "  read_write: [/tmp, /dev/null]\n  execute: [/usr/bin, /usr/lib, /usr/lib64]",
            StringComparison.Ordinal).Replace("hard_requirement", rootless ? "best_effort" : "hard_requirement", StringComparison.Ordinal));
        string script = $"""
            /usr/bin/true && echo usr-bin-ok
            '{f.Probe}' id 2>&1 | tail -1; echo probe=$?
            cp /usr/bin/true /tmp/t && /tmp/t; echo tmp=$?
            cp /usr/bin/true {wd}/t && {wd}/t; echo wd=$?
            """;
        ProcessResult r = f.Run(["--policy", policy, "--", "sh", "-c", script], rootless, wd);
        Assert.Contains("usr-bin-ok", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("tmp=126", r.Stdout, StringComparison.Ordinal); // sh: Permission denied
        Assert.Contains("wd=126", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("uid=", r.Stdout, StringComparison.Ordinal); // the probe never ran
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void FilelessExecutionIsRefusedUnderAnExecuteAllowList(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        Skip.IfNot(File.Exists("/usr/bin/python3"), "needs /usr/bin/python3 to create and execute a memfd");
        string script = string.Join("; ",
            "import os",
            "fd = os.memfd_create('x', 0)",
            "os.write(fd, open('/usr/bin/true', 'rb').read())",
            "r = []",
            "exec(\"try: os.execve(f'/proc/self/fd/{fd}', ['x'], {})\\nexcept OSError as e: r.append(e.errno)\")",
            "exec(\"try: os.execve(fd, ['x'], {})\\nexcept OSError as e: r.append(e.errno)\")",
            "print('refused', r)");
        (string wd, string policy) = Setup(rootless, Narrow.Replace(
            "  read_write: [/tmp, /dev/null]",
            "  read_write: [/tmp, /dev/null]\n  execute: [/usr/bin, /usr/lib, /usr/lib64]",
            StringComparison.Ordinal));
        ProcessResult r = f.Run(["--policy", policy, "--", "/usr/bin/python3", "-c", script], rootless, wd);
        if (rootless)
        {
            // Only host root can set vm.memfd_noexec: a rootless run says so and refuses (hard_requirement).
            Assert.Equal(125, r.ExitCode);
            Assert.Contains("fileless execution", r.Stderr, StringComparison.Ordinal);
            return;
        }
        Assert.Contains("refused [13, 13]", r.Stdout, StringComparison.Ordinal); // /proc/self/fd/N and execveat(AT_EMPTY_PATH)

        // Control: without an execute list the same memfd runs (so the refusal above is the list's doing).
        (string wd2, string open) = Setup(rootless, Narrow);
        ProcessResult c = f.Run(["--policy", open, "--", "/usr/bin/python3", "-c", script], rootless, wd2);
        Assert.True(c.ExitCode == 0 && !c.Stdout.Contains("refused", StringComparison.Ordinal), c.ToString());
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void TcpBindAndConnectLists(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        (string wd, string policy) = Setup(rootless, Narrow + "\n  tcp_bind: [8081]\n  tcp_connect: []\n");
        Assert.StartsWith("err EACCES", f.RunProbe(["--policy", policy], ["tcp-listen", "8080"], rootless, wd).LastLine, StringComparison.Ordinal);
        Assert.StartsWith("ok", f.RunProbe(["--policy", policy], ["tcp-listen", "8081"], rootless, wd).LastLine, StringComparison.Ordinal);
        Assert.StartsWith("err EACCES", f.RunProbe(["--policy", policy], ["tcp-connect", "127.0.0.1", "8081"], rootless, wd).LastLine, StringComparison.Ordinal);
        // The proxy's port is always connectable: nothing listens yet, so the kernel answers ECONNREFUSED, not EACCES.
        Assert.StartsWith("err ECONNREFUSED", f.RunProbe(["--policy", policy], ["tcp-connect", "127.0.0.1", "3128"], rootless, wd).LastLine, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void SignalsOutsideTheDomainAreRefused(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        (string wd, string policy) = Setup(rootless, Narrow);
        // pid 1 (the sandbox's init) is outside the agent's Landlock domain.
        Assert.StartsWith("err EPERM", f.RunProbe(["--policy", policy], ["kill", "1", "USR1"], rootless, wd).LastLine, StringComparison.Ordinal);
    }

    [Fact]
    public void OlderAbiIsReportedUnderBestEffortAndRefusedUnderHardRequirement()
    {
        (string wd, string hard) = Setup(false, Narrow + "\n  tcp_bind: [8081]\n");
        var env = new Dictionary<string, string?> { ["SANDBOXRUN_LANDLOCK_ABI"] = "3" };
        ProcessResult refused = f.Run(["--policy", hard, "--", "true"], workdir: wd, env: env);
        Assert.Equal(125, refused.ExitCode);
        Assert.Contains("landlock.tcp_bind/tcp_connect need Landlock ABI 4; this kernel has ABI 3", refused.Stderr, StringComparison.Ordinal);

        string soft = Path.Combine(wd, "soft.yaml");
        File.WriteAllText(soft, File.ReadAllText(hard).Replace("hard_requirement", "best_effort", StringComparison.Ordinal));
        ProcessResult dropped = f.Run(["--policy", soft, "--", "true"], workdir: wd, env: env);
        Assert.Equal(0, dropped.ExitCode);
        Assert.Contains("landlock: dropped (best_effort): landlock.tcp_bind", dropped.Stderr, StringComparison.Ordinal);
        Assert.Contains("filesystem right ioctl-dev needs Landlock ABI 5", dropped.Stderr, StringComparison.Ordinal);
        Assert.Contains("scoping of abstract unix sockets and signals needs Landlock ABI 6", dropped.Stderr, StringComparison.Ordinal);

        ProcessResult none = f.Run(["--policy", soft, "--", "true"], workdir: wd, env: new Dictionary<string, string?> { ["SANDBOXRUN_LANDLOCK_ABI"] = "0" });
        Assert.Equal(0, none.ExitCode);
        Assert.Contains("Landlock is not available", none.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void PolicyCheckShowsAbi7FullyUsed()
    {
        ProcessResult r = f.Run(["policy", "check", Path.Combine(TestPaths.SharedFixtures, "testdata-sandbox-policy.yaml")]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("using ABI 7", r.Stdout, StringComparison.Ordinal); // this kernel's ABI (or newer, used as 7)
        Assert.Contains("/usr: execute,read-file,read-dir", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("dropped", r.Stdout, StringComparison.Ordinal);
    }
}
