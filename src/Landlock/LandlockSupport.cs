using System.Runtime.InteropServices;

namespace Sandboxrun.Landlock;

/// <summary>What the running kernel's Landlock offers (landlock(7), "ABI versions").</summary>
public readonly record struct LandlockSupport(int Abi, int Errno)
{
    public bool Available => Abi > 0;

    /// <summary>The newest ABI this code knows the rights of; a newer kernel is used at this level.</summary>
    public const int KnownAbi = 7;

    public static LandlockSupport Probe()
    {
        long rc = Interop.Landlock.QueryAbiVersion();
        return rc < 0 ? new LandlockSupport(0, Marshal.GetLastPInvokeError()) : new LandlockSupport((int)rc, 0);
    }

    /// <summary>What each ABI level adds (landlock(7)), for `doctor` and `policy check`.</summary>
    public static string Describe(int abi) => abi switch
    {
        <= 0 => "not available",
        1 => "filesystem access rights",
        2 => "+ rename/link across directories (REFER)",
        3 => "+ truncate",
        4 => "+ TCP bind/connect ports",
        5 => "+ device ioctl",
        6 => "+ scoping of abstract unix sockets and signals",
        7 => "+ audit logging control",
        _ => $"ABI {abi} (newer than this build knows; used as ABI {KnownAbi})",
    };
}
