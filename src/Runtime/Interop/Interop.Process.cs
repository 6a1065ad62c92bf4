using System.Runtime.InteropServices;

namespace Sandboxrun.Interop;

internal static partial class Interop
{
    /// <summary>Process and pidfd calls Tmds.LibC lacks (numbers: x86_64).</summary>
    internal static unsafe partial class Process
    {
        private const long SysWaitid = 247;
        private const long SysPidfdSendSignal = 424;
        private const int PPidfd = 3;
        public const int WExited = 4;

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall4(long nr, long a, long b, long c, long d);

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall5(long nr, long a, long b, nint c, long d, nint e);

        /// <summary>waitid(P_PIDFD, pidfd, &amp;info, WEXITED): (si_code, si_status), retrying EINTR.</summary>
        public static int WaitExit(int pidfd, out int code, out int status)
        {
            byte* info = stackalloc byte[128];
            long rc;
            do
            {
                new Span<byte>(info, 128).Clear();
                rc = Syscall5(SysWaitid, PPidfd, pidfd, (nint)info, WExited, 0);
            }
            while (rc < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR);
            // siginfo_t: si_signo, si_errno, si_code (ints), then for SIGCHLD: pid, uid, status at offset 24.
            code = *(int*)(info + 8);
            status = *(int*)(info + 24);
            return rc < 0 ? Marshal.GetLastPInvokeError() : 0;
        }

        public static int SendSignal(int pidfd, int signal) =>
            Syscall4(SysPidfdSendSignal, pidfd, signal, 0, 0) < 0 ? Marshal.GetLastPInvokeError() : 0;
    }
}
