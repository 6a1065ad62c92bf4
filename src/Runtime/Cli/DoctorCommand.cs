using Sandboxrun.Host;
using Sandboxrun.Landlock;
using Sandboxrun.Launch;
using Sandboxrun.Plan;
using Sandboxrun.Policy;

namespace Sandboxrun.Cli;

/// <summary>`sandboxrun doctor`: kernel features, then a real sandbox started with the default policy.</summary>
internal static class DoctorCommand
{
    public static int Execute(ReadOnlySpan<string> args)
    {
        if (args.Length > 0)
            return Usage.Fail(2, "usage: sandboxrun doctor");
        KernelFeatures k = KernelFeatures.Probe();
        bool ok = true;
        void Line(bool good, string what, string detail)
        {
            Console.WriteLine($"{(good ? "ok  " : "FAIL")}  {what,-18} {detail}");
            ok &= good;
        }
        Console.WriteLine($"kernel {k.KernelRelease}");
        Line(k.MaxUserNamespaces > 0, "user namespaces", $"max_user_namespaces={k.MaxUserNamespaces}");
        Line(k.Clone3AndPidfd, "clone3 + pidfd", k.Clone3AndPidfd ? "yes" : "needs Linux 5.3+");
        Line(k.MountSetattr, "mount_setattr", k.MountSetattr ? "yes" : "needs Linux 5.12+");
        Line(true, "landlock", k.Landlock.Available
            ? $"ABI {k.Landlock.Abi}: {LandlockSupport.Describe(k.Landlock.Abi)}"
            : $"unavailable ({Interop.ErrnoText.Name(k.Landlock.Errno)})");
        bool filter = k.SeccompActions.Any(a => a.Name == "errno" && a.Available);
        Line(filter, "seccomp", string.Join(' ', k.SeccompActions.Select(a => a.Available ? a.Name : $"-{a.Name}")));
        Line(true, "cgroups", $"{k.Cgroups} (limits not applied yet)");

        // The proof: start a real sandbox with the default policy.
        (SandboxPlan? plan, _) = RunCommand.MakePlan(DefaultPolicy.Load(), new RunOptions(null, null, [], "/", 0, true, ["true"]));
        if (plan is null)
        {
            Line(false, "default sandbox", "could not be planned");
        }
        else
        {
            LaunchResult r = new Launcher(plan).Run();
            Line(r.ExitCode == 0, "default sandbox", r.ExitCode == 0 ? "started and ran `true`" : $"exit {r.ExitCode}: {r.Error}");
        }
        return ok ? 0 : 1;
    }
}
