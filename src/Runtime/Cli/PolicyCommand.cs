using System.Text.Json;
using Sandboxrun.Control;
using Sandboxrun.Host;
using Sandboxrun.Landlock;
using Sandboxrun.Plan;
using Sandboxrun.Policy;

namespace Sandboxrun.Cli;

/// <summary>`sandboxrun policy default | check FILE | apply NAME FILE | get NAME`.</summary>
internal static class PolicyCommand
{
    public static int Execute(ReadOnlySpan<string> args)
    {
        if (args.Length == 1 && args[0] == "default")
        {
            Console.Write(DefaultPolicy.Yaml);
            return 0;
        }
        if (args.Length == 2 && args[0] == "check")
            return Check(args[1]);
        if (args.Length == 3 && args[0] == "apply")
            return Apply(args[1], args[2]);
        if (args.Length == 2 && args[0] == "get")
            return Get(args[1]);
        return Usage.Fail(2, "usage: sandboxrun policy default | check FILE | apply NAME FILE | get NAME");
    }

    /// <summary>Reads FILE as the caller (the supervisor may run as another user) and sends it; the sandbox validates, compiles and swaps, or changes nothing.</summary>
    private static int Apply(string name, string file)
    {
        if (!RunOptions.IsValidName(name))
            return Usage.Fail(2, $"'{name}' is not a sandbox name");
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Usage.Fail(2, $"{file}: {e.Message}");
        }
        string source = Path.GetFullPath(file);
        (JsonDocument? reply, string? error) = ControlClient.Call(name, w =>
        {
            w.WriteString("op", "policy.apply");
            w.WriteString("source", source);
            w.WriteString("text", text);
        });
        if (reply is null)
            return Usage.Fail(1, error!);
        using (reply)
        {
            JsonElement r = reply.RootElement;
            if (!r.GetProperty("ok").GetBoolean())
            {
                Console.Error.WriteLine($"sandboxrun: {name}: {r.Text("error")}");
                if (r.TryGetProperty("errors", out JsonElement errors))
                    foreach (JsonElement e in errors.EnumerateArray())
                        Console.Error.WriteLine("sandboxrun: policy error: " + e.GetString());
                return 2;
            }
            foreach (JsonElement w in r.GetProperty("warnings").EnumerateArray())
                Console.Error.WriteLine("sandboxrun: policy warning: " + w.GetString());
            Console.WriteLine($"{name}: applied {source} as generation {r.GetProperty("generation").GetInt64()}; "
                + $"{r.GetProperty("revoked").GetInt32()} open connection(s) closed because the new policy no longer allows them");
            return 0;
        }
    }

    private static int Get(string name)
    {
        if (!RunOptions.IsValidName(name))
            return Usage.Fail(2, $"'{name}' is not a sandbox name");
        (JsonDocument? reply, string? error) = ControlClient.Call(name, w => w.WriteString("op", "policy.get"));
        if (reply is null)
            return Usage.Fail(1, error!);
        using (reply)
        {
            JsonElement r = reply.RootElement;
            if (!r.GetProperty("ok").GetBoolean())
                return Usage.Fail(1, $"{name}: {r.Text("error")}");
            Console.WriteLine($"# {name}: generation {r.GetProperty("generation").GetInt64()}, from {r.Text("source")}");
            string text = r.Text("text");
            Console.Write(text.EndsWith('\n') ? text : text + "\n");
            return 0;
        }
    }

    private static int Check(string file)
    {
        SandboxPolicy? policy = PolicySource.Load(file, quiet: false);
        if (policy is null)
            return 2;
        (SandboxPlan? plan, int exit) = RunCommand.MakePlan(policy, new RunOptions(file, null, [], null, 0, true, ["/bin/true"]));
        if (plan is null)
            return exit;
        KernelFeatures k = KernelFeatures.Probe();
        Console.WriteLine($"{file}: valid");
        Console.WriteLine($"namespaces:  {plan.Namespaces}");
        Console.WriteLine($"identity:    {plan.Identity.UserName} (uid {plan.Identity.Uid}, gid {plan.Identity.Gid}); uid_map {plan.Identity.UidMap.Trim().Replace('\n', ',')}; no capabilities; no_new_privs");
        Console.WriteLine("filesystem (mounts):");
        foreach (SetupOp op in plan.Ops.Where(o => o.Kind == SetupOpKind.Mount && o.Description.StartsWith("bind", StringComparison.Ordinal) || o.Description.StartsWith("mask", StringComparison.Ordinal) || o.Description.StartsWith("mount a", StringComparison.Ordinal)))
            Console.WriteLine($"  {op.Description}");
        Console.WriteLine($"landlock:    kernel ABI {k.Landlock.Abi} ({LandlockSupport.Describe(k.Landlock.Abi)}), compatibility {policy.Landlock.Compatibility}");
        if (plan.Landlock is { } ll)
        {
            Console.WriteLine($"  using ABI {ll.Abi}; handled: {LandlockAbi.Describe(ll.HandledFs)}; net: {ll.HandledNet}; scoped: {ll.Scoped}");
            foreach (PathRule r in ll.PathRules)
                Console.WriteLine($"  {r.Path}: {LandlockAbi.Describe(r.Access)}");
            foreach (PortRule r in ll.PortRules)
                Console.WriteLine($"  tcp port {r.Port}: {r.Access}");
        }
        else
        {
            Console.WriteLine("  not applied");
        }
        SeccompPolicy sc = policy.Process.Seccomp;
        string seccomp = plan.Seccomp.IsEmpty ? "off"
            : (sc.DefaultProfile ? "default profile" : "no default profile")
              + (sc.Block.IsEmpty ? "" : $", block {string.Join(' ', sc.Block)}")
              + (sc.Allow.IsEmpty || !sc.DefaultProfile ? "" : $", allow {string.Join(' ', sc.Allow)}")
              + $", refusals: {sc.DefaultAction.ToString().ToLowerInvariant()}; {plan.Seccomp.Length} instructions"
              + (plan.SeccompNotified is null ? "" : "; each denial answered by the supervisor and recorded as a seccomp.denied audit event (with --audit)");
        Console.WriteLine($"seccomp:     {seccomp}");
        Console.WriteLine(policy.NetworkPolicies.IsEmpty
            ? "network:     none (loopback only)"
            : $"network:     egress proxy on 127.0.0.1:{Planner.ProxyPort} inside the sandbox; {policy.NetworkPolicies.Length} network policies, enforcement default: enforce");
        foreach (Notice n in plan.Notices)
            Console.WriteLine($"notice:      {n}");
        return 0;
    }
}
