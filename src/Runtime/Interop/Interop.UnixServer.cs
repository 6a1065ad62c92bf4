using System.Runtime.InteropServices;
using System.Text;

namespace Sandboxrun.Interop;

internal static partial class Interop
{
    /// <summary>
    /// A listening unix stream socket on plain file descriptors, for the control socket: the
    /// framework's Socket starts its event-loop thread even for blocking use, which costs every
    /// sandbox start for a socket that is rarely used.
    /// </summary>
    internal static unsafe partial class UnixServer
    {
        private const int AfUnix = 1, SockStream = 1, SockCloexec = 0x80000;
        private const int SolSocket = 1, SoPeerCred = 17, SoRcvTimeo = 20, SoSndTimeo = 21;

        [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
        private static partial int Socket(int domain, int type, int protocol);

        [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
        private static partial int Bind(int fd, byte* addr, uint len);

        [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
        private static partial int Listen(int fd, int backlog);

        [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
        private static partial int Accept4(int fd, void* addr, void* len, int flags);

        [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
        private static partial int GetSockOpt(int fd, int level, int name, void* value, uint* len);

        [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
        private static partial int SetSockOpt(int fd, int level, int name, void* value, uint len);

        [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
        private static partial nint Read(int fd, byte* buffer, nuint count);

        [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
        private static partial nint Send(int fd, byte* buffer, nuint count, int flags);

        /// <summary>socket + bind + listen at <paramref name="path"/>; the fd, or throws naming the path and errno.</summary>
        public static int Listen(string path, int backlog)
        {
            byte[] name = Encoding.UTF8.GetBytes(path);
            if (name.Length > 107)
                throw new IOException($"{path}: longer than a unix socket path may be (107 bytes)");
            int fd = Socket(AfUnix, SockStream | SockCloexec, 0);
            if (fd < 0)
                throw new IOException($"{path}: socket: {ErrnoText.Describe(Marshal.GetLastPInvokeError())}");
            byte* addr = stackalloc byte[110];
            new Span<byte>(addr, 110).Clear();
            *(ushort*)addr = AfUnix;
            name.CopyTo(new Span<byte>(addr + 2, name.Length));
            if (Bind(fd, addr, (uint)(2 + name.Length + 1)) < 0 || Listen(fd, backlog) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                Files.Close(fd);
                throw new IOException($"{path}: {ErrnoText.Describe(errno)}");
            }
            return fd;
        }

        /// <summary>The next connection (CLOEXEC), or -errno (EINVAL once the listener is shut down).</summary>
        public static int Accept(int fd)
        {
            while (true)
            {
                int c = Accept4(fd, null, null, SockCloexec);
                if (c >= 0)
                    return c;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != 4 /* EINTR */)
                    return -errno;
            }
        }

        /// <summary>SO_PEERCRED: the uid of the connecting process (struct ucred { pid, uid, gid }), or null.</summary>
        public static uint? PeerUid(int fd)
        {
            int* cred = stackalloc int[3];
            uint len = 12;
            return GetSockOpt(fd, SolSocket, SoPeerCred, cred, &len) == 0 && len == 12 ? (uint)cred[1] : null;
        }

        /// <summary>SO_RCVTIMEO and SO_SNDTIMEO: a blocked read or write gives up after this long.</summary>
        public static void SetTimeouts(int fd, int seconds)
        {
            long* tv = stackalloc long[2];
            tv[0] = seconds;
            tv[1] = 0;
            SetSockOpt(fd, SolSocket, SoRcvTimeo, tv, 16);
            SetSockOpt(fd, SolSocket, SoSndTimeo, tv, 16);
        }

        /// <summary>Bytes read (0 at end), or -errno.</summary>
        public static int ReadSome(int fd, Span<byte> buffer)
        {
            fixed (byte* b = buffer)
            {
                while (true)
                {
                    nint n = Read(fd, b, (nuint)buffer.Length);
                    if (n >= 0)
                        return (int)n;
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno != 4)
                        return -errno;
                }
            }
        }

        /// <summary>Writes everything (MSG_NOSIGNAL); false when the peer went away or timed out.</summary>
        public static bool SendAll(int fd, ReadOnlySpan<byte> data)
        {
            fixed (byte* b = data)
            {
                for (int done = 0; done < data.Length;)
                {
                    nint n = Send(fd, b + done, (nuint)(data.Length - done), 0x4000 /* MSG_NOSIGNAL */);
                    if (n < 0 && Marshal.GetLastPInvokeError() == 4)
                        continue;
                    if (n <= 0)
                        return false;
                    done += (int)n;
                }
            }
            return true;
        }
    }
}
