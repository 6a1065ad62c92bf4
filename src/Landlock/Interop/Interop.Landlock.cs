using System.Runtime.InteropServices;

namespace Sandboxrun.Landlock;

internal static partial class Interop
{
    internal static unsafe partial class Landlock
    {
        private const long SysLandlockCreateRuleset = 444;
        private const long SysLandlockAddRule = 445;
        private const uint LandlockCreateRulesetVersion = 1u << 0;
        private const int LandlockRuleNetPort = 2;

        /// <summary>struct landlock_ruleset_attr (ABI 6 size; older kernels accept a shorter size).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct RulesetAttr
        {
            public ulong HandledAccessFs;
            public ulong HandledAccessNet;
            public ulong Scoped;
        }

        /// <summary>struct landlock_path_beneath_attr is packed: 12 bytes.</summary>
        [StructLayout(LayoutKind.Sequential, Pack = 1)]
        internal struct PathBeneathAttr
        {
            public ulong AllowedAccess;
            public int ParentFd;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct NetPortAttr
        {
            public ulong AllowedAccess;
            public ulong Port;
        }

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall3(long nr, nint a, nuint b, uint c);

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall4(long nr, int fd, int type, void* attr, uint flags);

        /// <summary>landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI version or -1 with errno.</summary>
        internal static long QueryAbiVersion() => Syscall3(SysLandlockCreateRuleset, 0, 0, LandlockCreateRulesetVersion);

        /// <summary>A ruleset fd (CLOEXEC by the kernel), or -errno. The attr size follows the ABI.</summary>
        internal static int CreateRuleset(ulong fs, ulong net, ulong scoped, int abi)
        {
            var attr = new RulesetAttr { HandledAccessFs = fs, HandledAccessNet = net, Scoped = scoped };
            nuint size = abi >= 6 ? 24u : abi >= 4 ? 16u : 8u;
            long fd = Syscall3(SysLandlockCreateRuleset, (nint)(&attr), size, 0);
            return fd < 0 ? -Marshal.GetLastPInvokeError() : (int)fd;
        }

        [LibraryImport("libc", EntryPoint = "close")]
        internal static partial int Close(int fd);

        internal static int AddNetRule(int ruleset, ulong access, ulong port)
        {
            var attr = new NetPortAttr { AllowedAccess = access, Port = port };
            return Syscall4(SysLandlockAddRule, ruleset, LandlockRuleNetPort, &attr, 0) < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
    }
}
