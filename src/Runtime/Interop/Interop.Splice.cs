using System.Runtime.InteropServices;

namespace Sandboxrun.Interop;

internal static partial class Interop
{
    /// <summary>splice(2) between sockets through a pipe: bytes move inside the kernel, never through user space.</summary>
    internal static partial class Splice
    {
        private const uint SpliceFMove = 1;
        private const int FGetFl = 3, FSetFl = 4, ONonBlock = 0x800;

        [LibraryImport("libc", EntryPoint = "splice", SetLastError = true)]
        private static partial nint SpliceNative(int fdIn, nint offIn, int fdOut, nint offOut, nuint len, uint flags);

        [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        private static partial int Fcntl(int fd, int cmd, int arg);

        /// <summary>Bytes moved, 0 at end of input, or -errno. EINTR is retried.</summary>
        public static long Move(int from, int to, long max)
        {
            while (true)
            {
                nint n = SpliceNative(from, 0, to, 0, (nuint)max, SpliceFMove);
                if (n >= 0)
                    return n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != 4 /* EINTR */)
                    return -errno;
            }
        }

        /// <summary>Clears O_NONBLOCK: the relay threads block in splice until data moves or the socket is shut down.</summary>
        public static bool MakeBlocking(int fd)
        {
            int flags = Fcntl(fd, FGetFl, 0);
            return flags >= 0 && Fcntl(fd, FSetFl, flags & ~ONonBlock) == 0;
        }

        /// <summary>F_SETPIPE_SZ: a larger pipe moves more per splice pair (capped by /proc/sys/fs/pipe-max-size; failure keeps the default).</summary>
        public static void GrowPipe(int fd, int size) => Fcntl(fd, 1031 /* F_SETPIPE_SZ */, size);
    }
}
