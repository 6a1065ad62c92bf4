using System.Collections.Immutable;

namespace Sandboxrun.Plan;

/// <summary>clone(2) namespace flags, C#-named.</summary>
[Flags]
internal enum NamespaceFlags : ulong
{
    None = 0,
    Mount = 0x00020000,
    Cgroup = 0x02000000,
    Uts = 0x04000000,
    Ipc = 0x08000000,
    User = 0x10000000,
    Pid = 0x20000000,
    Net = 0x40000000,
}

/// <summary>Who the agent is inside the sandbox, and how its ids map to the host's.</summary>
internal sealed record Identity(
    uint Uid,
    uint Gid,
    string UserName,
    string Home,
    bool SetGroups,
    ImmutableArray<uint> Groups,
    // Lines for /proc/PID/uid_map and gid_map ("inside outside count").
    string UidMap,
    string GidMap,
    bool DenySetgroups);

internal sealed record ExecSpec(
    string File,
    ImmutableArray<string> Argv,
    ImmutableArray<KeyValuePair<string, string>> Environment,
    ImmutableArray<string> SearchPath,
    string Workdir);

internal sealed record ResourceLimit(int Resource, ulong Soft, ulong Hard)
{
    public const int NoFile = 7; // RLIMIT_NOFILE
}

/// <summary>A host path opened with open_tree(OPEN_TREE_CLONE) by the supervisor and given an id map.</summary>
internal sealed record DetachedMount(string HostPath, string UidMap, string GidMap);

/// <summary>Something the sandbox will not enforce as asked, said out loud (best effort only).</summary>
internal sealed record Notice(string Layer, string Message)
{
    public override string ToString() => $"{Layer}: {Message}";
}

/// <summary>Everything the launch needs, computed without touching the kernel.</summary>
internal sealed record SandboxPlan(
    NamespaceFlags Namespaces,
    ImmutableArray<SetupOp> Ops,
    ImmutableArray<DetachedMount> DetachedMounts,
    Identity Identity,
    ExecSpec Exec,
    ImmutableArray<ResourceLimit> Limits,
    ImmutableArray<SeccompInstruction> Seccomp,
    Sandboxrun.Landlock.LandlockPlan? Landlock,
    string Hostname,
    int PreserveFds,
    ImmutableArray<Notice> Notices)
{
    /// <summary>process.seccomp.log: the program notifies refusals, and these rules (refusals as
    /// errnos) answer them. Null: the program is installed without a listener.</summary>
    public Sandboxrun.Seccomp.SeccompRuleSet? SeccompNotified { get; init; }
}

/// <summary>One classic BPF instruction (struct sock_filter).</summary>
internal readonly record struct SeccompInstruction(ushort Code, byte Jt, byte Jf, uint K);

/// <summary>Fixed paths used while pid 1 builds the root (bubblewrap's layout).</summary>
internal static class Layout
{
    /// <summary>An existing host directory the staging tmpfs is mounted on, then pivoted into.</summary>
    public const string Staging = "/tmp";
    public const string OldRoot = "/oldroot";
    public const string NewRoot = "/newroot";
}
