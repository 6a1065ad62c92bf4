using Xunit;
using System.Diagnostics;
using System.Globalization;
using Sandboxrun.Tests.Infrastructure;

namespace Sandboxrun.Tests.Sandbox;

/// <summary>Signals, reaping, and what is left on the host after the supervisor dies.</summary>
[Collection(SandboxCollection.Name)]
public sealed class LifecycleTests(SandboxFixture f)
{
    [Theory]
    [InlineData("TERM", 15)]
    [InlineData("INT", 2)]
    [InlineData("HUP", 1)]
    [InlineData("USR1", 10)]
    [InlineData("WINCH", 28)]
    public void SignalsToSandboxrunReachTheAgent(string name, int number)
    {
        // env resets SIGINT/SIGQUIT to their defaults first: a test run started in the background by
        // a shell inherits them ignored, and a program started with SIGINT ignored keeps ignoring it.
        using Process p = ProcessRunner.Start("env", ["--default-signal=INT,QUIT", f.Sandboxrun, "--", f.Probe, "wait-signal", name, "20"], f.NewWorkdir());
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null && line != "ready")
        {
        }
        Assert.Equal("ready", line);
        Assert.Equal(0, Kill(p.Id, number));
        string rest = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(20_000));
        Assert.Contains($"ok got {number}", rest, StringComparison.Ordinal);
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void TheAgentCannotKillOrTraceItsInit()
    {
        // Refused (init runs under another uid), or dropped by the kernel (init of a pid
        // namespace ignores SIGKILL from inside): either way the probe lives to report it.
        ProcessResult kill = f.RunProbe([], ["kill", "1", "9"]);
        Assert.Matches("^(ok|err EPERM)", kill.LastLine);
        ProcessResult trace = f.RunProbe([], ["ptrace-attach", "1"]);
        Assert.StartsWith("err EPERM", trace.LastLine, StringComparison.Ordinal);
    }

    [Fact]
    public void OrphansAreReapedByInit()
    {
        // The probe's orphans are re-parented to the sandbox's pid 1, which must reap them.
        ProcessResult r = f.RunProbe([], ["orphans", "50"], timeout: TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("ok 0", r.LastLine);
    }

    [Fact]
    public void KillingTheSupervisorLeavesNothingBehind()
    {
        string mountsBefore = File.ReadAllText("/proc/self/mountinfo");
        string marker = "sbr-orphan-" + Guid.NewGuid().ToString("N")[..8];
        using Process p = ProcessRunner.Start(f.Sandboxrun, ["--", "sh", "-c", $"sleep 300 & sleep 301 & echo {marker}; wait"], f.NewWorkdir());
        Assert.Equal(marker, p.StandardOutput.ReadLine());
        int[] inside = Descendants(p.Id);
        Assert.True(inside.Length >= 3, "expected init, sh and two sleeps under sandboxrun");

        Assert.Equal(0, Kill(p.Id, 9));
        Assert.True(p.WaitForExit(10_000));
        var deadline = Stopwatch.StartNew();
        while (inside.Any(Alive) && deadline.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(50);
        Assert.DoesNotContain(inside, Alive);
        Assert.Equal(mountsBefore, File.ReadAllText("/proc/self/mountinfo"));

        // SIGKILL leaves the supervisor no moment to remove its state directory: what is left is
        // a directory nothing answers on, which `sandboxrun ps` sweeps once it is older than a
        // starting sandbox could be. Removed here, after checking it is dead.
        string state = $"/run/sandboxrun/sandbox-{p.Id.ToString(CultureInfo.InvariantCulture)}";
        if (Directory.Exists(state))
        {
            using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            Assert.Throws<System.Net.Sockets.SocketException>(() => probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(state, "control.sock"))));
            Directory.Delete(state, recursive: true);
        }
    }

    private static bool Alive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int[] Descendants(int root)
    {
        var deadline = Stopwatch.StartNew();
        int[] found = [];
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            var parents = new Dictionary<int, int>();
            foreach (string dir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                    continue;
                try
                {
                    string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    parents[pid] = int.Parse(rest[1], CultureInfo.InvariantCulture);
                }
                catch (IOException) { }
            }
            var set = new HashSet<int> { root };
            bool grew = true;
            while (grew)
            {
                grew = false;
                foreach ((int pid, int ppid) in parents)
                    if (set.Contains(ppid) && set.Add(pid))
                        grew = true;
            }
            set.Remove(root);
            found = [.. set];
            if (found.Length >= 4)
                break;
            Thread.Sleep(50);
        }
        return found;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    private static int Kill(int pid, int sig) => kill(pid, sig);
}

/// <summary>The launch must never hang, even while other threads of the launching process allocate hard.</summary>
[Collection(LaunchLoopCollection.Name)]
public sealed class LaunchLoopTests(SandboxFixture f)
{
    [Fact]
    public void TwoHundredSequentialLaunches()
    {
        ProcessResult r = f.Run(["debug", "launch-loop", "--count", "200", "--hang-ms", "10000", "--", "/bin/true"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("launches=200 failures=0 hangs=0", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void TenThousandLaunchesWhileAllocatingNeverHang()
    {
        ProcessResult r = f.Run(["debug", "launch-loop", "--count", "10000", "--alloc-threads", "2", "--hang-ms", "10000", "--", "/bin/true"], timeout: TimeSpan.FromMinutes(20));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("launches=10000 failures=0 hangs=0", r.Stdout, StringComparison.Ordinal);
        // The hazard is a GC in progress at the moment of clone: prove collections really ran.
        int gcs = int.Parse(r.Stdout.Split("gcs=")[1].Trim(), CultureInfo.InvariantCulture);
        Assert.True(gcs > 1000, $"only {gcs} collections during the loop");
    }
}
