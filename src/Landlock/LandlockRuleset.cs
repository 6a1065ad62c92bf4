namespace Sandboxrun.Landlock;

/// <summary>
/// Creates the ruleset in the supervisor: handled rights and port rules. Path rules are added
/// by the sandbox's pid 1 after pivot_root, from paths of the new root (a private /tmp or
/// /dev only exists there); the agent then calls landlock_restrict_self on the same fd.
/// </summary>
public static class LandlockRuleset
{
    /// <summary>The ruleset fd, or -errno (and the failing step).</summary>
    public static (int Fd, string? Failed) Create(LandlockPlan plan)
    {
        int fd = Interop.Landlock.CreateRuleset((ulong)plan.HandledFs, (ulong)plan.HandledNet, (ulong)plan.Scoped, plan.Abi);
        if (fd < 0)
            return (fd, "landlock_create_ruleset");
        foreach (PortRule rule in plan.PortRules)
        {
            int err = Interop.Landlock.AddNetRule(fd, (ulong)rule.Access, (ulong)rule.Port);
            if (err != 0)
            {
                Close(fd);
                return (-err, $"landlock_add_rule(port {rule.Port})");
            }
        }
        return (fd, null);
    }

    public static void Close(int fd)
    {
        if (fd >= 0)
            Interop.Landlock.Close(fd);
    }
}
