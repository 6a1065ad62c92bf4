using System.Collections.Immutable;

namespace Sandboxrun.Landlock;

/// <summary>Filesystem access rights (LANDLOCK_ACCESS_FS_*, landlock(7)).</summary>
[Flags]
public enum FsAccess : ulong
{
    None = 0,
    Execute = 1UL << 0,
    WriteFile = 1UL << 1,
    ReadFile = 1UL << 2,
    ReadDir = 1UL << 3,
    RemoveDir = 1UL << 4,
    RemoveFile = 1UL << 5,
    MakeChar = 1UL << 6,
    MakeDir = 1UL << 7,
    MakeReg = 1UL << 8,
    MakeSock = 1UL << 9,
    MakeFifo = 1UL << 10,
    MakeBlock = 1UL << 11,
    MakeSym = 1UL << 12,
    Refer = 1UL << 13,    // ABI 2
    Truncate = 1UL << 14, // ABI 3
    IoctlDev = 1UL << 15, // ABI 5
}

/// <summary>Network access rights (LANDLOCK_ACCESS_NET_*, ABI 4).</summary>
[Flags]
public enum NetAccess : ulong
{
    None = 0,
    BindTcp = 1UL << 0,
    ConnectTcp = 1UL << 1,
}

/// <summary>IPC scopes (LANDLOCK_SCOPE_*, ABI 6).</summary>
[Flags]
public enum Scope : ulong
{
    None = 0,
    AbstractUnixSocket = 1UL << 0,
    Signal = 1UL << 1,
}

/// <summary>What each ABI version can enforce (landlock(7), "ABI versions").</summary>
public static class LandlockAbi
{
    /// <summary>The newest ABI whose rights this build knows; a newer kernel is used at this level.</summary>
    public const int Known = 7;

    /// <summary>Rights that apply to a file that is not a directory; others are refused by landlock_add_rule (EINVAL).</summary>
    public const FsAccess FileRights = FsAccess.Execute | FsAccess.WriteFile | FsAccess.ReadFile | FsAccess.Truncate | FsAccess.IoctlDev;

    public static FsAccess Fs(int abi) => abi switch
    {
        <= 0 => FsAccess.None,
        1 => (FsAccess)((1UL << 13) - 1),
        2 => Fs(1) | FsAccess.Refer,
        3 or 4 => Fs(2) | FsAccess.Truncate,
        _ => Fs(3) | FsAccess.IoctlDev,
    };

    public static NetAccess Net(int abi) => abi >= 4 ? NetAccess.BindTcp | NetAccess.ConnectTcp : NetAccess.None;

    public static Scope Scopes(int abi) => abi >= 6 ? Scope.AbstractUnixSocket | Scope.Signal : Scope.None;

    /// <summary>ABI 7 adds audit logging flags for landlock_restrict_self; nothing to enforce.</summary>
    public static bool HasAuditFlags(int abi) => abi >= 7;

    /// <summary>The ABI this build acts on: the kernel's, capped at <see cref="Known"/>.</summary>
    public static int Effective(int kernelAbi) => Math.Clamp(kernelAbi, 0, Known);

    /// <summary>Which ABI first offered <paramref name="right"/>.</summary>
    public static int Introduced(FsAccess right) => right switch
    {
        FsAccess.Refer => 2,
        FsAccess.Truncate => 3,
        FsAccess.IoctlDev => 5,
        _ => 1,
    };

    public static ImmutableArray<string> Names(FsAccess rights) =>
        [.. Enum.GetValues<FsAccess>().Where(r => r != FsAccess.None && rights.HasFlag(r)).Select(r => Kebab(r.ToString()))];

    public static string Describe(FsAccess rights) => rights == FsAccess.None ? "none" : string.Join(',', Names(rights));

    private static string Kebab(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
