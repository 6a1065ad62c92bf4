using System.Runtime.InteropServices;
using Sandboxrun.Audit;
using Sandboxrun.Control;
using Sandboxrun.Host;
using Sandboxrun.Launch;
using Sandboxrun.Plan;
using Sandboxrun.Netns.Egress;
using Sandboxrun.Policy;
using Sandboxrun.Proxy;

namespace Sandboxrun.Cli;

/// <summary>`sandboxrun [run] [options] -- CMD [ARGS...]`.</summary>
internal static class RunCommand
{
    /// <summary>Signals sandboxrun forwards to the agent (through pid 1).</summary>
    private const int SigWinch = 28;

    internal static readonly int[] ForwardedSignals = [1 /* HUP */, 2 /* INT */, 3 /* QUIT */, 10 /* USR1 */, 12 /* USR2 */, 15 /* TERM */, 28 /* WINCH */];

    public static int Execute(ReadOnlySpan<string> args)
    {
        (RunOptions? options, string? error) = RunOptions.Parse(args);
        if (options is null)
            return Usage.Fail(2, error!);

        (SandboxPolicy? policy, string policyText) = PolicySource.LoadWithText(options.PolicyFile, options.Quiet);
        if (policy is null)
            return 2;

        TerminalRelay? terminal = null;
        AuditLog? audit = null;
        EgressServer? proxy = null;
        SandboxState? state = null;
        ControlServer? control = null;
        var registrations = new List<PosixSignalRegistration>();
        try
        {
            // Unnamed sandboxes are told apart by the supervisor's pid (`sandboxrun ps` lists them).
            string sandbox = options.Name ?? $"{Planner.DefaultHostname}-{Environment.ProcessId}";
            state = SandboxState.Create(sandbox);
            audit = AuditLog.Open(options.Audit is null ? [state.AuditPath] : [state.AuditPath, options.Audit], sandbox);
            audit.Write("policy.load", ("policy", policy.Source), ("generation", 1));
            var live = new LiveSandbox(sandbox, options.Command, policyText, policy.Source, audit);
            control = new ControlServer(state.ControlPath, live.Handle);
            control.Start();
            terminal = TerminalRelay.OpenIfTerminal();
            (SandboxPlan? plan, int planExit) = MakePlan(policy, options, terminal?.SlavePath);
            if (plan is null)
            {
                audit.Write("sandbox.refused", ("status", planExit));
                return planExit;
            }
            foreach (Notice n in plan.Notices)
            {
                if (!options.Quiet)
                    Console.Error.WriteLine("sandboxrun: notice: " + n);
                audit.Write("layer.skipped", ("layer", n.Layer), ("detail", n.Message));
            }

            CompiledEgressPolicy? egress = null;
            if (plan.Ops.Any(o => o.Kind == SetupOpKind.ProxyHandoff))
            {
                EgressCompileResult compiled = EgressPolicyAdapter.Compile(policy, generation: 1);
                foreach (string e in compiled.Errors)
                    Console.Error.WriteLine("sandboxrun: policy error: network_policies: " + e);
                if (!compiled.Ok)
                    return 2;
                if (!options.Quiet)
                    foreach (string w in compiled.Warnings)
                        Console.Error.WriteLine("sandboxrun: policy warning: network_policies: " + w);
                egress = compiled.Policy;
            }
            Launcher launcher = null!;
            launcher = new Launcher(plan, options.Quiet ? null : m => Console.Error.WriteLine("sandboxrun: notice: " + m))
            {
                ProxySockets = (listener, diag) =>
                {
                    proxy = new EgressServer(listener, diag, launcher.Pid, egress ?? CompiledEgressPolicy.Empty, audit);
                    proxy.Start();
                    live.Proxy = proxy;
                },
                SeccompDenied = SeccompAudit.Reporter(audit),
            };
            foreach (int sig in ForwardedSignals)
            {
                registrations.Add(PosixSignalRegistration.Create((PosixSignal)sig, ctx =>
                {
                    ctx.Cancel = true;
                    if (sig == SigWinch && terminal is not null)
                        terminal.ResizeFromUser(); // the kernel signals the agent's foreground group
                    else
                        launcher.Signal(sig);
                }));
            }
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            LaunchResult result = launcher.Run(terminal?.Slave ?? -1, () =>
            {
                terminal?.Start();
                live.Pid = launcher.Pid;
                audit.Write("sandbox.start", ("pid", launcher.Pid), ("command", plan.Exec.Argv), ("user", plan.Identity.UserName),
                    ("uid", (long)plan.Identity.Uid), ("workdir", plan.Exec.Workdir), ("seccomp", !plan.Seccomp.IsEmpty), ("landlock_abi", plan.Landlock?.Abi ?? 0));
            });
            proxy?.Shutdown(); // what the agent's connections did is logged before its exit
            if (result.Error is not null)
            {
                Console.Error.WriteLine("sandboxrun: " + result.Error);
                audit.Write("sandbox.setup_failed", ("status", result.ExitCode), ("detail", result.Error));
            }
            else
            {
                audit.Write("sandbox.exit", ("status", result.ExitCode),
                    ("duration_ms", (long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds));
            }
            return result.ExitCode;
        }
        catch (SandboxSetupException e)
        {
            return Usage.Fail(125, e.Message);
        }
        catch (SandboxStateException e)
        {
            return Usage.Fail(125, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            return Usage.Fail(125, "state directory or audit log: " + e.Message);
        }
        finally
        {
            foreach (PosixSignalRegistration r in registrations)
                r.Dispose();
            control?.Dispose();
            terminal?.Dispose();
            proxy?.Dispose();
            audit?.Dispose();
            state?.Dispose();
        }
    }

    /// <summary>The plan, or null and the exit status after printing why.</summary>
    internal static (SandboxPlan? Plan, int ExitCode) MakePlan(SandboxPolicy policy, RunOptions options, string? console = null)
    {
        HostFacts host = HostProbe.Gather();
        string workdir = Path.GetFullPath(options.Workdir ?? Environment.CurrentDirectory).TrimEnd('/');
        if (workdir.Length == 0)
            workdir = "/";
        var invocation = new Invocation(options.Command, options.Environment, workdir, options.Name, options.PreserveFds, console);
        PlanResult result = Planner.Plan(policy, invocation, host);
        if (result.Plan is not null)
            return (result.Plan, 0);
        foreach (PlanError e in result.Errors)
            Console.Error.WriteLine("sandboxrun: " + e.Message);
        return (null, result.Errors.Any(e => e.ExitCode == 2) ? 2 : 125);
    }
}
