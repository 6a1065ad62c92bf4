using System.Collections.Immutable;

namespace Sandboxrun.Plan;

/// <summary>mount(2) flags (MS_*), C#-named.</summary>
[Flags]
internal enum MountFlags : ulong
{
    None = 0,
    ReadOnly = 1,
    NoSuid = 2,
    NoDev = 4,
    NoExec = 8,
    Bind = 4096,
    Recursive = 16384,
    Private = 1 << 18,
}

/// <summary>mount_setattr(2) attributes (MOUNT_ATTR_*), C#-named.</summary>
[Flags]
internal enum MountAttributes : ulong
{
    None = 0,
    ReadOnly = 0x1,
    NoSuid = 0x2,
    NoDev = 0x4,
    NoExec = 0x8,
    IdMap = 0x100000,
}

internal enum SetupOpKind
{
    Mkdir = 1,
    MkFile = 2,
    Symlink = 3,
    WriteFile = 4,
    Mount = 5,
    SetAttr = 6,
    PivotRoot = 7,
    Umount = 8,
    Chdir = 9,
    SetHostname = 10,
    Netlink = 11,
    Rmdir = 12,
    MoveMount = 13,
    LandlockPath = 14,
    ProxyHandoff = 15,
}

/// <summary>
/// One step of the sandbox's setup, executed in order by the native stage in pid 1 of the
/// sandbox (bubblewrap's SetupOp list). Paths are as seen by pid 1 at that moment: before the
/// final pivot the host root is at <see cref="Layout.OldRoot"/> and the sandbox root at
/// <see cref="Layout.NewRoot"/>.
/// </summary>
internal sealed record SetupOp(SetupOpKind Kind, string Path, string Description)
{
    public string? A { get; init; }
    public string? B { get; init; }
    public string? C { get; init; }
    public uint Mode { get; init; }
    public MountFlags Flags { get; init; }
    public MountAttributes AttrSet { get; init; }
    public MountAttributes AttrClear { get; init; }
    public bool Recursive { get; init; }
    public ImmutableArray<byte> Data { get; init; } = [];
    public bool OkIfExists { get; init; }
    public bool Optional { get; init; }
    public ulong UmountFlags { get; init; }
    /// <summary>For MoveMount: index into SandboxPlan.DetachedMounts.</summary>
    public int DetachedMount { get; init; } = -1;

    public static SetupOp Mkdir(string path, uint mode = 0x1ED /* 0755 */) =>
        new(SetupOpKind.Mkdir, path, $"mkdir {path}") { Mode = mode, OkIfExists = true };

    public static SetupOp MkFile(string path) =>
        new(SetupOpKind.MkFile, path, $"create mount point {path}") { Mode = 0x1A4 /* 0644 */, OkIfExists = true };

    public static SetupOp Symlink(string target, string path) =>
        new(SetupOpKind.Symlink, path, $"symlink {path} -> {target}") { A = target, OkIfExists = true };

    public static SetupOp WriteFile(string path, ReadOnlySpan<byte> data, uint mode = 0x1A4) =>
        new(SetupOpKind.WriteFile, path, $"write {path}") { Data = [.. data], Mode = mode };

    public static SetupOp Mount(string? source, string target, string? fstype, MountFlags flags, string? data, string description) =>
        new(SetupOpKind.Mount, target, description) { A = source, B = fstype, Flags = flags, C = data };

    public static SetupOp SetAttr(string path, MountAttributes set, bool recursive, string description) =>
        new(SetupOpKind.SetAttr, path, description) { AttrSet = set, Recursive = recursive };

    public static SetupOp PivotRoot(string newRoot, string putOld) =>
        new(SetupOpKind.PivotRoot, newRoot, $"pivot_root {newRoot} {putOld}") { A = putOld };

    public static SetupOp Umount(string path, string description) =>
        new(SetupOpKind.Umount, path, description) { UmountFlags = 2 /* MNT_DETACH */ };

    public static SetupOp Chdir(string path) => new(SetupOpKind.Chdir, path, $"chdir {path}");

    public static SetupOp SetHostname(string name) =>
        new(SetupOpKind.SetHostname, "", $"sethostname {name}") { A = name };

    public static SetupOp Netlink(ReadOnlySpan<byte> message, string description) =>
        new(SetupOpKind.Netlink, "", description) { Data = [.. message] };

    /// <summary>Adds a path_beneath rule to the Landlock ruleset (file rights only when the path is not a directory).</summary>
    public static SetupOp LandlockPath(string path, ulong access, ulong fileRights) =>
        new(SetupOpKind.LandlockPath, path, $"landlock rule for {path}") { AttrSet = (MountAttributes)access, AttrClear = (MountAttributes)fileRights, Optional = true };

    /// <summary>Listens on 127.0.0.1:port inside the sandbox's netns and hands the socket (and a sock_diag socket) to the supervisor.</summary>
    public static SetupOp ProxyHandoff(int port) =>
        new(SetupOpKind.ProxyHandoff, "", $"open the egress proxy's listener on 127.0.0.1:{port}") { Flags = (MountFlags)(ulong)port };

    public static SetupOp MoveMount(int detachedMount, string target, string description) =>
        new(SetupOpKind.MoveMount, target, description) { DetachedMount = detachedMount };
}
