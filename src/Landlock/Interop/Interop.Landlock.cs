using System.Runtime.InteropServices;

namespace Sandboxrun.Landlock;

internal static partial class Interop
{
    internal static partial class Landlock
    {
        private const long SysLandlockCreateRuleset = 444;
        private const uint LandlockCreateRulesetVersion = 1u << 0;

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall(long nr, nint attr, nuint size, uint flags);

        /// <summary>landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI version or -1 with errno.</summary>
        internal static long QueryAbiVersion() => Syscall(SysLandlockCreateRuleset, 0, 0, LandlockCreateRulesetVersion);
    }
}
