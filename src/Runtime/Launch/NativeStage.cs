using System.Runtime.InteropServices;

namespace Sandboxrun.Launch;

// Mirrors of Native/stage.h. Layout is checked against the C compiler in NativeStageLayoutTests;
// op kinds are SetupOpKind, whose values are enum sbr_op_kind's.

[Flags]
internal enum NativeOpFlags : uint
{
    None = 0,
    OkIfExists = 1,
    Optional = 2,
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeOp
{
    public int Kind;
    public int Step;
    public uint OpFlags;
    public uint Mode;
    public ulong Flags;
    public ulong AttrSet;
    public ulong AttrClr;
    public byte* Path;
    public byte* A;
    public byte* B;
    public byte* C;
    public void* Data;
    public ulong Len;
    public long Fd;
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeRlimit
{
    public int Resource;
    public int Pad;
    public ulong Soft;
    public ulong Hard;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativePlan
{
    public ulong CloneFlags;
    public NativeOp* Ops;
    public NativeRlimit* Rlimits;
    public uint* Groups;
    public void* Bpf;
    public byte* ExecFile;
    public byte** SearchPath;
    public byte** Argv;
    public byte** Envp;
    public uint NOps;
    public uint NRlimits;
    public uint NGroups;
    public uint BpfLen;
    public uint Uid;
    public uint Gid;
    public int SetGroups;
    public int LandlockFd;
    public int PtyFd;
    public int PreserveFds;
    public int SyncFd;
    public int SyncParentFd;
    public int ErrFd;
    public int ErrParentFd;
    public int NotifyFd;
    public fixed int KeepFds[8];
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeReport
{
    public int Step;
    public int Errno;
}

/// <summary>Step numbers the stage reports for its own steps (stage.h, enum sbr_step).</summary>
internal enum StageStep
{
    PdeathSig = 1,
    Sync = 2,
    CloseFds = 3,
    ForkAgent = 4,
    Setsid = 5,
    ControllingTty = 6,
    Rlimit = 7,
    CapBoundingSet = 8,
    SetGroups = 9,
    SetGid = 10,
    SetUid = 11,
    CapSet = 12,
    NoNewPrivs = 13,
    Landlock = 14,
    Signals = 15,
    Seccomp = 16,
    Exec = 17,
    AmbientCaps = 18,
    InitSignals = 19,
    SeccompListener = 20,
}

internal static unsafe partial class NativeStage
{
    private const string Lib = "sbrstage";

    /// <summary>First step number used for plan operations; op i reports FirstOpStep + i.</summary>
    public const int FirstOpStep = 1000;

    [LibraryImport(Lib, EntryPoint = "sbr_spawn")]
    public static partial int Spawn(NativePlan* plan, int* pidfd);

    [LibraryImport(Lib, EntryPoint = "sbr_spawn_userns_holder")]
    public static partial int SpawnUserNamespaceHolder(int* pidfd);

    [LibraryImport(Lib, EntryPoint = "sbr_sizeof_plan")]
    public static partial uint SizeOfPlan();

    [LibraryImport(Lib, EntryPoint = "sbr_sizeof_op")]
    public static partial uint SizeOfOp();
}
