using System.Diagnostics;
using System.Globalization;
using Sandboxrun.Launch;
using Sandboxrun.Plan;
using Sandboxrun.Policy;

namespace Sandboxrun.Cli;

/// <summary>
/// `sandboxrun debug launch-loop --count N [--alloc-threads K] [--hang-ms T] [run options] -- CMD`:
/// launches CMD N times in a row while K threads allocate as hard as they can, to prove a
/// launch never hangs when a GC is in progress at the moment of clone (docs/launch.md).
/// A launch still running after T ms is a hang: it is killed and counted.
/// </summary>
internal static class DebugCommand
{
    public static int Execute(ReadOnlySpan<string> args)
    {
        if (args.Length > 0 && args[0] == "seccomp-dump")
            return SeccompDumpCommand.Execute(args[1..]);
        if (args.Length == 0 || args[0] != "launch-loop")
            return Usage.Fail(2, "usage: sandboxrun debug launch-loop --count N [--alloc-threads K] [--hang-ms T] [run options] -- CMD");
        int count = 100, threads = 0, hangMs = 10_000;
        int i = 1;
        for (; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--count")
                count = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            else if (args[i] == "--alloc-threads")
                threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            else if (args[i] == "--hang-ms")
                hangMs = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            else
                break;
        }
        (RunOptions? options, string? error) = RunOptions.Parse(args[i..]);
        if (options is null)
            return Usage.Fail(2, error!);
        SandboxPolicy? policy = PolicySource.Load(options.PolicyFile, quiet: true);
        if (policy is null)
            return 2;
        (SandboxPlan? plan, int planExit) = RunCommand.MakePlan(policy, options);
        if (plan is null)
            return planExit;

        using var stop = new CancellationTokenSource();
        var allocators = Enumerable.Range(0, threads).Select(_ => new Thread(() => Allocate(stop.Token)) { IsBackground = true }).ToList();
        allocators.ForEach(t => t.Start());

        int failures = 0, hangs = 0;
        var times = new List<double>(count);
        var clock = Stopwatch.StartNew();
        for (int n = 0; n < count; n++)
        {
            var launcher = new Launcher(plan);
            using var watchdog = new Timer(_ =>
            {
                if (launcher.Signal(9) == 0)
                    Interlocked.Increment(ref hangs);
            }, null, hangMs, Timeout.Infinite);
            long start = Stopwatch.GetTimestamp();
            LaunchResult r = launcher.Run();
            watchdog.Change(Timeout.Infinite, Timeout.Infinite);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            if (r.ExitCode != 0)
            {
                failures++;
                if (failures <= 5)
                    Console.Error.WriteLine($"sandboxrun: launch {n}: exit {r.ExitCode} {r.Error}");
            }
        }
        stop.Cancel();
        times.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"launches={count} failures={failures} hangs={hangs} alloc_threads={threads} total_s={clock.Elapsed.TotalSeconds:F1} " +
            $"p50_ms={times[times.Count / 2]:F2} p99_ms={times[Math.Min(times.Count - 1, times.Count * 99 / 100)]:F2} gcs={GC.CollectionCount(0)}"));
        return failures == 0 && hangs == 0 ? 0 : 1;
    }

    private static void Allocate(CancellationToken stop)
    {
        var keep = new object[1024];
        int i = 0;
        while (!stop.IsCancellationRequested)
        {
            keep[i++ & 1023] = new byte[(i & 7) == 0 ? 90_000 : 64]; // small objects plus LOH churn
        }
    }
}
