using System.Collections.Immutable;

namespace Sandboxrun.Seccomp;

/// <summary>Which seccomp return actions the running kernel supports (seccomp(2), SECCOMP_GET_ACTION_AVAIL).</summary>
public static class SeccompSupport
{
    public static readonly ImmutableArray<(string Name, uint Action)> Actions =
    [
        ("kill_process", 0x80000000), ("kill_thread", 0x00000000), ("trap", 0x00030000), ("errno", 0x00050000),
        ("user_notif", 0x7fc00000), ("trace", 0x7ff00000), ("log", 0x7ffc0000), ("allow", 0x7fff0000),
    ];

    public static ImmutableArray<(string Name, bool Available)> Probe() =>
        [.. Actions.Select(a => (a.Name, Available(a.Action)))];

    /// <summary>Whether the kernel knows a SECCOMP_RET_* action (user_notif: Linux 5.0).</summary>
    public static bool Available(uint action) => Interop.Seccomp.ActionAvailable(action) == 0;
}
