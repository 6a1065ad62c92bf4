using System.Collections.Immutable;

namespace Sandboxrun.Plan;

/// <summary>What the user asked for on the command line (beyond the policy).</summary>
internal sealed record Invocation(
    ImmutableArray<string> Command,
    // -e KEY=VALUE (Value set) or -e KEY (Value null: take the host's value).
    ImmutableArray<KeyValuePair<string, string?>> Environment,
    string Workdir,
    string? Name,
    int PreserveFds,
    // The host path of the pty the agent gets (/dev/pts/N), shown inside as /dev/console.
    string? Console);

internal enum HostPathKind
{
    Missing,
    Directory,
    File,
    Other,
}

/// <summary>Facts about the host the planner needs, gathered once by HostProbe (fake in tests).</summary>
internal sealed record HostFacts(
    uint Uid,
    uint Gid,
    string UserName,
    string? Home,
    ImmutableArray<string> HomeDirectories,
    string PasswdText,
    string GroupText,
    ImmutableDictionary<string, string> Environment,
    Func<string, HostPathKind> PathKind,
    Func<string, (uint Uid, uint Gid)?> Owner,
    // The target of a symbolic link, or null when the path is not one.
    Func<string, string?> LinkTarget,
    // uid/gid of the host's `sandbox` account, if it has one.
    (uint Uid, uint Gid)? SandboxAccount,
    // The kernel's Landlock ABI version (0: unavailable).
    int LandlockAbi,
    // SECCOMP_RET_USER_NOTIF and SECCOMP_FILTER_FLAG_NEW_LISTENER (Linux 5.0): process.seccomp.log needs them.
    bool SeccompUserNotif = true)
{
    public bool IsRoot => Uid == 0;
}
