using Xunit;
using System.Globalization;

namespace Sandboxrun.Tests.Infrastructure;

/// <summary>
/// Shared by every test that runs real sandboxes: copies of the AOT binaries in a directory
/// any user can read, the host's namespace ids (the probe refuses to attack outside a
/// sandbox), and an unprivileged user created for rootless runs and removed afterwards.
/// </summary>
public sealed class SandboxFixture : IDisposable
{
    public string Root { get; }
    public string Sandboxrun { get; }
    public string Probe { get; }
    public string HostNamespaces { get; }
    public bool IsRoot { get; } = Environment.UserName == "root" || GetUid() == 0;

    /// <summary>The unprivileged account for rootless runs (null when tests are not run as root).</summary>
    public (string Name, uint Uid, uint Gid)? User { get; }

    public SandboxFixture()
    {
        // Not under /tmp: the sandboxes get a private /tmp, and the probe must stay visible.
        Root = Path.Combine("/var/tmp", "sbr-tests-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Root);
        File.SetUnixFileMode(Root, (UnixFileMode)0x1ED);
        string bin = Path.Combine(Root, "bin");
        Directory.CreateDirectory(bin);
        Sandboxrun = Path.Combine(bin, "sandboxrun");
        Probe = Path.Combine(bin, "probe");
        File.Copy(TestPaths.Artifact("sandboxrun"), Sandboxrun);
        File.Copy(TestPaths.Artifact("probe"), Probe);
        HostNamespaces = $"{Link("/proc/self/ns/mnt")},{Link("/proc/self/ns/pid")}"; // "mnt:[N],pid:[N]"
        if (IsRoot)
            User = CreateUser();
    }

    private static string Link(string path) => new FileInfo(path).LinkTarget ?? throw new InvalidOperationException(path);

    /// <summary>Every real-sandbox case runs as root (false) and as the unprivileged user (true).</summary>
    public static TheoryData<bool> Modes => new() { false, true };

    public void SkipRootlessIfUnavailable(bool rootless) =>
        Skip.If(rootless && User is null, "rootless cases need the suite to run as root, which creates the unprivileged user");

    /// <summary>A fresh directory for one test (owned by the rootless user when <paramref name="forUser"/>).</summary>
    public string NewWorkdir(bool forUser = false)
    {
        string dir = Path.Combine(Root, "w-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        if (forUser && User is { } u)
            Chown(dir, u.Uid, u.Gid);
        return dir;
    }

    /// <summary>Runs sandboxrun with <paramref name="args"/> (as the rootless user when asked).</summary>
    public ProcessResult Run(IEnumerable<string> args, bool rootless = false, string? workdir = null,
        IDictionary<string, string?>? env = null, TimeSpan? timeout = null, string? stdin = null)
    {
        workdir ??= NewWorkdir(rootless);
        env ??= new Dictionary<string, string?>();
        if (!rootless)
            return ProcessRunner.Run(Sandboxrun, args, workdir, env, timeout, stdin);
        var (name, uid, gid) = User ?? throw new InvalidOperationException("rootless runs need the tests to run as root (to create the user)");
        env["HOME"] = workdir;
        env["USER"] = name;
        return ProcessRunner.Run("setpriv",
            ["--reuid", uid.ToString(CultureInfo.InvariantCulture), "--regid", gid.ToString(CultureInfo.InvariantCulture), "--clear-groups", "--", Sandboxrun, .. args],
            workdir, env, timeout, stdin);
    }

    /// <summary>Runs the probe inside a sandbox: sandboxrun [options] -- probe ARGS.</summary>
    public ProcessResult RunProbe(IEnumerable<string> options, IEnumerable<string> probeArgs, bool rootless = false, string? workdir = null,
        IDictionary<string, string?>? env = null, TimeSpan? timeout = null) =>
        Run([.. options, "-e", "PROBE_HOST_NS=" + HostNamespaces, "--", Probe, .. probeArgs], rootless, workdir, env, timeout);

    private static (string, uint, uint) CreateUser()
    {
        // A run that was killed never disposed its user: remove those whose test process is gone.
        foreach (string line in File.ReadAllLines("/etc/passwd"))
        {
            string user = line.Split(':')[0];
            if (user.StartsWith("sbrtest", StringComparison.Ordinal)
                && int.TryParse(user.AsSpan(7), NumberStyles.None, CultureInfo.InvariantCulture, out int owner)
                && !Directory.Exists($"/proc/{owner}"))
                ProcessRunner.Run("userdel", [user]);
        }
        string name = "sbrtest" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        ProcessResult r = ProcessRunner.Run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name]);
        if (r.ExitCode != 0)
            throw new InvalidOperationException("useradd failed: " + r);
        ProcessResult id = ProcessRunner.Run("id", ["-u", name]);
        ProcessResult gid = ProcessRunner.Run("id", ["-g", name]);
        return (name, uint.Parse(id.Stdout.Trim(), CultureInfo.InvariantCulture), uint.Parse(gid.Stdout.Trim(), CultureInfo.InvariantCulture));
    }

    private static void Chown(string path, uint uid, uint gid)
    {
        ProcessResult r = ProcessRunner.Run("chown", [$"{uid}:{gid}", path]);
        if (r.ExitCode != 0)
            throw new InvalidOperationException("chown failed: " + r);
    }

    private static uint GetUid() => uint.TryParse(ProcessRunner.Run("id", ["-u"]).Stdout.Trim(), CultureInfo.InvariantCulture, out uint u) ? u : 1;

    /// <summary>Starts sandboxrun with <paramref name="args"/> and leaves it running (as the rootless user when asked).</summary>
    public RunningProcess Start(IEnumerable<string> args, bool rootless = false, string? workdir = null)
    {
        workdir ??= NewWorkdir(rootless);
        if (!rootless)
            return new RunningProcess(Sandboxrun, args, workdir);
        var (_, uid, gid) = User ?? throw new InvalidOperationException("rootless runs need the tests to run as root (to create the user)");
        return new RunningProcess("setpriv", [.. AsUser(uid, gid), Sandboxrun, .. args], workdir, new Dictionary<string, string?> { ["HOME"] = workdir });
    }

    /// <summary>setpriv arguments that run the rest of the command line as uid:gid with no supplementary groups.</summary>
    public static string[] AsUser(uint uid, uint gid) =>
        ["--reuid", uid.ToString(CultureInfo.InvariantCulture), "--regid", gid.ToString(CultureInfo.InvariantCulture), "--clear-groups", "--"];

    public void Dispose()
    {
        if (User is { } u)
        {
            ProcessRunner.Run("userdel", [u.Name]);
            // The state directory base rootless sandboxes made for this user (no XDG_RUNTIME_DIR in tests).
            try
            {
                Directory.Delete($"/tmp/sandboxrun-{u.Uid}", recursive: true);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class SandboxCollection : ICollectionFixture<SandboxFixture>
{
    public const string Name = "sandbox";
}

/// <summary>Tests that load the machine (the launch loops) run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LaunchLoopCollection : ICollectionFixture<SandboxFixture>
{
    public const string Name = "launch-loop";
}
