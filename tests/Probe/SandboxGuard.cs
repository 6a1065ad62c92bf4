namespace Sandboxrun.Probe;

/// <summary>
/// Commands that change or attack something run only when the probe can show it is not in the host's
/// mount and pid namespaces. The test passes the host's links as PROBE_HOST_NS="mnt:[N],pid:[N]"
/// (the readlink texts of the host's /proc/self/ns/mnt and /proc/self/ns/pid). Anything missing,
/// malformed or unreadable counts as "not inside".
/// </summary>
internal static class SandboxGuard
{
    public const string Variable = "PROBE_HOST_NS";

    public static bool IsInsideSandbox()
    {
        string? host = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(host))
        {
            return false;
        }

        string? hostMnt = null;
        string? hostPid = null;
        foreach (string part in host.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (IsLink(part, "mnt"))
            {
                hostMnt = part;
            }
            else if (IsLink(part, "pid"))
            {
                hostPid = part;
            }
            else
            {
                return false;
            }
        }

        if (hostMnt is null || hostPid is null)
        {
            return false;
        }

        string? ownMnt = Native.ReadLink("/proc/self/ns/mnt", out _);
        string? ownPid = Native.ReadLink("/proc/self/ns/pid", out _);
        return ownMnt is not null && ownPid is not null
            && !string.Equals(ownMnt, hostMnt, StringComparison.Ordinal)
            && !string.Equals(ownPid, hostPid, StringComparison.Ordinal);
    }

    /// <summary>Matches "kind:[digits]", the format of a /proc/PID/ns/* link.</summary>
    private static bool IsLink(string text, string kind)
    {
        string prefix = kind + ":[";
        if (!text.StartsWith(prefix, StringComparison.Ordinal) || !text.EndsWith(']') || text.Length <= prefix.Length + 1)
        {
            return false;
        }

        foreach (char c in text.AsSpan(prefix.Length, text.Length - prefix.Length - 1))
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
