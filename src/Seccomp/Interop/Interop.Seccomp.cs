using System.Runtime.InteropServices;

namespace Sandboxrun.Seccomp;

internal static partial class Interop
{
    internal static partial class Seccomp
    {
        private const long SysSeccomp = 317;
        private const uint SeccompGetActionAvail = 2;

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static unsafe partial long Syscall(long nr, uint op, uint flags, uint* args);

        /// <summary>seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &amp;action): 0 when the kernel knows the action.</summary>
        internal static unsafe long ActionAvailable(uint action) => Syscall(SysSeccomp, SeccompGetActionAvail, 0, &action);
    }
}
