using Xunit;
using Sandboxrun.Tests.Infrastructure;

namespace Sandboxrun.Tests.Sandbox;

/// <summary>
/// Real sandboxes started by the AOT binary, checked from inside by the probe. Every case
/// runs as root and, where the feature allows, as an unprivileged user (rootless).
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class SandboxRunTests(SandboxFixture f)
{
    public static TheoryData<bool> Modes => SandboxFixture.Modes;

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void ReadmeCommandRunsAndCannotWriteTheHost(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        ProcessResult r = f.Run(["--", "sh", "-c", "id; hostname; ls /; touch /etc/x"], rootless);
        Assert.Equal(1, r.ExitCode); // touch's status
        Assert.Contains("Read-only file system", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("uid=", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("uid=0(", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("\nsandbox\n", r.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists("/etc/x"));
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void AgentHasNoCapabilitiesAndNoNewPrivs(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        ProcessResult caps = f.RunProbe([], ["caps"], rootless);
        Assert.True(caps.ExitCode == 0, caps.ToString());
        Assert.Matches(@"CapBnd:\s+0000000000000000", caps.Stdout);
        ProcessResult nnp = f.RunProbe([], ["nnp"], rootless);
        Assert.True(nnp.ExitCode == 0, nnp.ToString());
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void RootIdentityIsSandboxAndRootlessIsTheInvokingUser(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        ProcessResult r = f.RunProbe([], ["id"], rootless);
        Assert.True(r.ExitCode == 0, r.ToString());
        string expected = rootless ? $"uid={f.User!.Value.Uid} " : "uid=2000000 ";
        Assert.Contains(expected, r.Stdout, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void WorkdirIsWritableAndEverythingElseIsNot(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string wd = f.NewWorkdir(rootless);
        ProcessResult inside = f.RunProbe([], ["fs-write", Path.Combine(wd, "made-inside")], rootless, wd);
        Assert.True(inside.ExitCode == 0, inside.ToString());
        Assert.True(File.Exists(Path.Combine(wd, "made-inside")));

        foreach (string target in new[] { "/etc/sbr-probe", "/usr/sbr-probe", "/var/tmp/sbr-probe", "/root/sbr-probe" })
        {
            ProcessResult r = f.RunProbe([], ["fs-write", target], rootless, wd);
            Assert.True(r.ExitCode == 1, $"{target}: {r}");
            Assert.Matches("^err (EROFS|EACCES|ENOENT)", r.LastLine);
            Assert.False(File.Exists(target), target);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void TmpIsPrivate(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string marker = Path.Combine("/tmp", "sbr-host-marker-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllText(marker, "host");
        try
        {
            ProcessResult r = f.RunProbe([], ["fs-read", marker], rootless);
            Assert.StartsWith("err ENOENT", r.LastLine, StringComparison.Ordinal);
            ProcessResult w = f.RunProbe([], ["fs-write", "/tmp/inside"], rootless);
            Assert.True(w.ExitCode == 0, w.ToString());
            Assert.False(File.Exists("/tmp/inside"));
        }
        finally
        {
            File.Delete(marker);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void WorkdirUnderTmpStaysVisibleOverThePrivateTmp(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string wd = Path.Combine("/tmp", "sbr-wd-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(wd);
        try
        {
            if (rootless)
                ProcessRunner.Run("chown", [$"{f.User!.Value.Uid}:{f.User.Value.Gid}", wd]);
            File.WriteAllText(Path.Combine(wd, "from-host"), "x");
            ProcessResult r = f.RunProbe([], ["fs-read", Path.Combine(wd, "from-host")], rootless, wd);
            Assert.True(r.ExitCode == 0, r.ToString());
            ProcessResult w = f.RunProbe([], ["fs-write", Path.Combine(wd, "from-sandbox")], rootless, wd);
            Assert.True(w.ExitCode == 0, w.ToString());
            Assert.True(File.Exists(Path.Combine(wd, "from-sandbox")));
        }
        finally
        {
            Directory.Delete(wd, recursive: true);
        }
    }

    [SkippableFact]
    public void SecretLocationsAndDenyPathsAreMasked()
    {
        Skip.IfNot(f.IsRoot, "needs root to plant a secret in /root");
        string wd = f.NewWorkdir();
        File.WriteAllText(Path.Combine(wd, ".env"), "API_KEY=secret");
        string policy = Path.Combine(wd, "p.yaml");
        File.WriteAllText(policy, $"""
            version: 1
            filesystem_policy:
              include_workdir: true
              read_only: [/]
              read_write: [/tmp]
              deny: [{wd}/.env]
            """);
        ProcessResult env = f.RunProbe(["--policy", policy], ["fs-read", Path.Combine(wd, ".env")], workdir: wd);
        Assert.True(env.ExitCode == 0, env.ToString());
        Assert.Equal("ok 0", env.LastLine);

        ProcessResult shadow = f.RunProbe([], ["fs-read", "/etc/shadow"]);
        Assert.True(shadow.LastLine == "ok 0" || shadow.LastLine.StartsWith("err EACCES", StringComparison.Ordinal), shadow.ToString());

        bool madeSsh = !Directory.Exists("/root/.ssh");
        Directory.CreateDirectory("/root/.ssh");
        string planted = "/root/.ssh/sbr-test-key-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(planted, "PRIVATE");
        try
        {
            // The agent is not root, so it cannot read /root anyway; list it as a uid-0 agent would.
            ProcessResult ls = f.Run(["--", "sh", "-c", "ls -a /root/.ssh 2>&1; echo done"]);
            Assert.DoesNotContain(Path.GetFileName(planted), ls.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(planted);
            if (madeSsh)
                Directory.Delete("/root/.ssh");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void OwnPidNamespaceAndHostname(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        ProcessResult pids = f.RunProbe([], ["pids"], rootless);
        Assert.True(pids.ExitCode == 0, pids.ToString());
        int count = int.Parse(pids.LastLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(count, 1, 3); // init and the probe

        ProcessResult set = f.RunProbe([], ["hostname-set", "pwned"], rootless);
        Assert.StartsWith("err EPERM", set.LastLine, StringComparison.Ordinal);
        Assert.NotEqual("pwned", Environment.MachineName);

        ProcessResult mount = f.RunProbe([], ["mount-tmpfs", "/tmp"], rootless);
        Assert.StartsWith("err EPERM", mount.LastLine, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void NoNetworkButLoopbackIsUp(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        ProcessResult outside = f.RunProbe([], ["tcp-connect", "1.1.1.1", "443"], rootless);
        Assert.StartsWith("err ENETUNREACH", outside.LastLine, StringComparison.Ordinal);
        ProcessResult listen = f.RunProbe([], ["tcp-listen", "8080"], rootless);
        Assert.True(listen.ExitCode == 0, listen.ToString());
    }

    [SkippableFact]
    public void HostAbstractUnixSocketIsUnreachable()
    {
        string name = "sbr-canary-" + Guid.NewGuid().ToString("N")[..8];
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint("\0" + name));
        listener.Listen();
        ProcessResult r = f.RunProbe([], ["abstract-connect", name]);
        Assert.StartsWith("err ECONNREFUSED", r.LastLine, StringComparison.Ordinal);
        Assert.False(listener.Poll(200_000, System.Net.Sockets.SelectMode.SelectRead), "the host listener saw a connection");
    }

    [Fact]
    public void TiocstiIsRefused()
    {
        // Without a terminal the agent still must not push input into any tty it inherits.
        ProcessResult r = f.RunProbe([], ["tiocsti", "0", "id\n"]);
        Assert.StartsWith("err", r.LastLine, StringComparison.Ordinal);
        Assert.Matches("^err (EPERM|ENOTTY|EIO)", r.LastLine);
    }

    [Fact]
    public void WithATerminalTheAgentGetsItsOwnPty()
    {
        // script(1) gives sandboxrun a terminal on stdin; the agent must see a different one.
        string outer = $"'{f.Sandboxrun}' -e PROBE_HOST_NS='{f.HostNamespaces}' -- sh -c 'tty; readlink /proc/self/fd/0; \"$0\" tiocsti 0 x' '{f.Probe}'";
        // script's stdin stays open while it runs (at EOF, script(1) sends the terminal an end-of-file byte).
        string quoted = $"tty; {outer}".Replace("'", "'\\''", StringComparison.Ordinal);
        ProcessResult r = ProcessRunner.Run("sh", ["-c", $"sleep 3 | script -qec '{quoted}' /dev/null"], f.NewWorkdir());
        string[] lines = r.Stdout.Replace("\r", "", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 4, r.ToString());
        Assert.StartsWith("/dev/pts/", lines[0], StringComparison.Ordinal); // the outer terminal
        Assert.Equal("/dev/console", lines[1]); // ttyname inside resolves to the agent's own pty
        Assert.NotEqual(lines[0], lines[2]); // a different pty device than the user's
        Assert.StartsWith("err EPERM", lines[^1], StringComparison.Ordinal);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void EnvironmentIsScrubbed(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        var env = new Dictionary<string, string?>
        {
            ["OPENAI_API_KEY"] = "sk-live-123",
            ["GITHUB_TOKEN"] = "ghp_abc",
            ["AWS_REGION"] = "eu-west-1",
            ["INNOCENT_LOOKING"] = "xoxb-slack",
            ["HARMLESS"] = "1",
            ["NAMED_TOKEN"] = "named-value",
        };
        ProcessResult r = f.RunProbe(["-e", "NAMED_TOKEN", "-e", "EXTRA=yes"], ["env"], rootless, env: env);
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (string hidden in new[] { "OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_REGION", "INNOCENT_LOOKING", "HARMLESS", "sk-live", "ghp_abc", "xoxb" })
            Assert.DoesNotContain(hidden, r.Stdout, StringComparison.Ordinal);
        Assert.Contains("NAMED_TOKEN=named-value", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("EXTRA=yes", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("PATH=", r.Stdout, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void OnlyStdioReachTheAgentUnlessPreserved(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string wd = f.NewWorkdir(rootless);
        string inner = $"exec 7</etc/hostname 3</etc/hostname; exec '{f.Sandboxrun}' -e PROBE_HOST_NS='{f.HostNamespaces}' -- '{f.Probe}' fds-check";
        ProcessResult leaked = rootless
            ? ProcessRunner.Run("setpriv", ["--reuid", f.User!.Value.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--regid", f.User.Value.Gid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--clear-groups", "--", "sh", "-c", inner], wd)
            : ProcessRunner.Run("sh", ["-c", inner], wd);
        Assert.True(leaked.ExitCode == 0, leaked.ToString());

        ProcessResult preserved = ProcessRunner.Run("sh", ["-c", $"exec 3</etc/hostname; exec '{f.Sandboxrun}' --preserve-fds 1 -- '{f.Probe}' fds"], wd);
        Assert.True(preserved.ExitCode == 0, preserved.ToString());
        Assert.Contains("3 -> /etc/hostname", preserved.Stdout, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void ExitCodesFollowTheAgent(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        Assert.Equal(42, f.Run(["--", "sh", "-c", "exit 42"], rootless).ExitCode);
        Assert.Equal(0, f.Run(["--", "true"], rootless).ExitCode);
        Assert.Equal(137, f.Run(["--", "sh", "-c", "kill -9 $$"], rootless).ExitCode);
        Assert.Equal(143, f.Run(["--", "sh", "-c", "kill -15 $$"], rootless).ExitCode);

        ProcessResult missing = f.Run(["--", "no-such-command-sbr"], rootless);
        Assert.Equal(127, missing.ExitCode);
        Assert.Contains("command not found", missing.Stderr, StringComparison.Ordinal);

        string wd = f.NewWorkdir(rootless);
        string plain = Path.Combine(wd, "not-executable");
        File.WriteAllText(plain, "#!/bin/sh\n");
        File.SetUnixFileMode(plain, (UnixFileMode)0x1A4);
        ProcessResult notExec = f.Run(["--", plain], rootless, wd);
        Assert.Equal(126, notExec.ExitCode);
        Assert.Contains("EACCES", notExec.Stderr, StringComparison.Ordinal);

        Assert.Equal(2, f.Run(["--no-such-flag", "--", "true"], rootless).ExitCode);
        Assert.Equal(2, f.Run([], rootless).ExitCode);
    }

    [Fact]
    public void BadPolicyIsExit2AndNothingStarts()
    {
        string wd = f.NewWorkdir();
        string policy = Path.Combine(wd, "bad.yaml");
        File.WriteAllText(policy, "version: 1\nfilesystem_policy:\n  read_only: [usr]\n");
        ProcessResult r = f.Run(["--policy", policy, "--", "sh", "-c", "touch started"], workdir: wd);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{policy}:3:", r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(wd, "started")));
    }

    [Fact]
    public void UnenforceableLayerFailsWith125UnlessBestEffort()
    {
        string wd = f.NewWorkdir();
        string hard = Path.Combine(wd, "hard.yaml");
        File.WriteAllText(hard, "version: 1\nlandlock:\n  compatibility: hard_requirement\nprocess:\n  limits: { memory: 1Gi }\n");
        ProcessResult r = f.Run(["--policy", hard, "--", "sh", "-c", "touch started"], workdir: wd);
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("process.limits.memory", r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(wd, "started")));

        string soft = Path.Combine(wd, "soft.yaml");
        File.WriteAllText(soft, "version: 1\nfilesystem_policy: { read_only: [/], include_workdir: true }\nlandlock:\n  compatibility: best_effort\nprocess:\n  limits: { memory: 1Gi }\n");
        ProcessResult s = f.Run(["--policy", soft, "--", "true"], workdir: wd);
        Assert.Equal(0, s.ExitCode);
        Assert.Contains("skipped (best_effort): process.limits.memory", s.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void OpenShellFixturePolicyRunsUnchanged()
    {
        string fixture = Path.Combine(TestPaths.SharedFixtures, "testdata-sandbox-policy.yaml");
        Assert.True(File.Exists(fixture), "missing " + fixture);
        string wd = f.NewWorkdir();
        // read_only /usr, /lib, /etc...; read_write /tmp; everything else absent from the root.
        ProcessResult r = f.Run(["--policy", fixture, "--", "sh", "-c", "ls /; touch /tmp/ok && echo tmp-ok; touch /etc/x || echo etc-ro"], workdir: wd);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("tmp-ok", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("etc-ro", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\nroot\n", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\nhome\n", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void PolicyCheckAcceptsEveryOpenShellFixture()
    {
        string[] files = Directory.GetFiles(TestPaths.SharedFixtures, "*-policy.yaml");
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            ProcessResult r = f.Run(["policy", "check", file]);
            Assert.True(r.ExitCode == 0, $"{file}: {r}");
            Assert.Contains("valid", r.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void DoctorPassesOnThisMachine()
    {
        ProcessResult r = f.Run(["doctor"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("default sandbox", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultPolicyIsPrintableAndLoadsBack()
    {
        ProcessResult r = f.Run(["policy", "default"]);
        Assert.Equal(0, r.ExitCode);
        string wd = f.NewWorkdir();
        string file = Path.Combine(wd, "default.yaml");
        File.WriteAllText(file, r.Stdout);
        Assert.Equal(0, f.Run(["policy", "check", file]).ExitCode);
    }
}
