using System.Runtime.InteropServices;

namespace Sandboxrun.Netns.Identity;

internal static partial class Interop
{
    internal static unsafe partial class SockDiag
    {
        private const int AfNetlink = 16;
        private const int SockRaw = 3;
        private const int SockCloexec = 0x80000;
        private const int NetlinkSockDiag = 4;

        [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
        private static partial int Socket(int domain, int type, int protocol);

        [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
        internal static partial nint Send(int fd, byte* buf, nuint len, int flags);

        [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
        internal static partial nint Recv(int fd, byte* buf, nuint len, int flags);

        [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
        internal static partial int Fstat(int fd, byte* stat);

        [LibraryImport("libc", EntryPoint = "close")]
        internal static partial int Close(int fd);

        /// <summary>A NETLINK_SOCK_DIAG socket in the caller's network namespace, or -errno.</summary>
        internal static int Open()
        {
            int fd = Socket(AfNetlink, SockRaw | SockCloexec, NetlinkSockDiag);
            return fd < 0 ? -Marshal.GetLastPInvokeError() : fd;
        }
    }
}
