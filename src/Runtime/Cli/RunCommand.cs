using System.Runtime.InteropServices;
using Sandboxrun.Host;
using Sandboxrun.Launch;
using Sandboxrun.Plan;
using Sandboxrun.Policy;

namespace Sandboxrun.Cli;

/// <summary>`sandboxrun [run] [options] -- CMD [ARGS...]`.</summary>
internal static class RunCommand
{
    /// <summary>Signals sandboxrun forwards to the agent (through pid 1).</summary>
    internal static readonly int[] ForwardedSignals = [1 /* HUP */, 2 /* INT */, 3 /* QUIT */, 10 /* USR1 */, 12 /* USR2 */, 15 /* TERM */, 28 /* WINCH */];

    public static int Execute(ReadOnlySpan<string> args)
    {
        (RunOptions? options, string? error) = RunOptions.Parse(args);
        if (options is null)
            return Usage.Fail(2, error!);

        SandboxPolicy? policy = PolicySource.Load(options.PolicyFile, options.Quiet);
        if (policy is null)
            return 2;

        (SandboxPlan? plan, int planExit) = MakePlan(policy, options);
        if (plan is null)
            return planExit;
        if (!options.Quiet)
            foreach (Notice n in plan.Notices)
                Console.Error.WriteLine("sandboxrun: notice: " + n);

        var launcher = new Launcher(plan, options.Quiet ? null : m => Console.Error.WriteLine("sandboxrun: notice: " + m));
        var registrations = new List<PosixSignalRegistration>();
        try
        {
            foreach (int sig in ForwardedSignals)
            {
                registrations.Add(PosixSignalRegistration.Create((PosixSignal)sig, ctx =>
                {
                    ctx.Cancel = true;
                    launcher.Signal(sig);
                }));
            }
            LaunchResult result = launcher.Run();
            if (result.Error is not null)
                Console.Error.WriteLine("sandboxrun: " + result.Error);
            return result.ExitCode;
        }
        catch (SandboxSetupException e)
        {
            return Usage.Fail(125, e.Message);
        }
        finally
        {
            foreach (PosixSignalRegistration r in registrations)
                r.Dispose();
        }
    }

    /// <summary>The plan, or null and the exit status after printing why.</summary>
    internal static (SandboxPlan? Plan, int ExitCode) MakePlan(SandboxPolicy policy, RunOptions options)
    {
        HostFacts host = HostProbe.Gather();
        string workdir = Path.GetFullPath(options.Workdir ?? Environment.CurrentDirectory).TrimEnd('/');
        if (workdir.Length == 0)
            workdir = "/";
        var invocation = new Invocation(options.Command, options.Environment, workdir, options.Name, options.PreserveFds, Terminal: false);
        PlanResult result = Planner.Plan(policy, invocation, host);
        if (result.Plan is not null)
            return (result.Plan, 0);
        foreach (PlanError e in result.Errors)
            Console.Error.WriteLine("sandboxrun: " + e.Message);
        return (null, result.Errors.Any(e => e.ExitCode == 2) ? 2 : 125);
    }
}
