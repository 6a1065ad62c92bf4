using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Sandboxrun.Interop;

internal static partial class Interop
{
    internal static unsafe partial class Files
    {
        /// <summary>pipe2(O_CLOEXEC): (read end, write end).</summary>
        public static (int Read, int Write) Pipe()
        {
            int* fds = stackalloc int[2];
            if (LibC.pipe2(fds, LibC.O_CLOEXEC) < 0)
                throw new SandboxSetupException("pipe2", Marshal.GetLastPInvokeError(), "creating a pipe");
            return (fds[0], fds[1]);
        }

        public static void Close(int fd)
        {
            if (fd >= 0)
                LibC.close(fd);
        }

        /// <summary>Reads until <paramref name="buffer"/> is full or EOF, retrying EINTR. Returns bytes read.</summary>
        public static int ReadFull(int fd, Span<byte> buffer)
        {
            int total = 0;
            fixed (byte* p = buffer)
            {
                while (total < buffer.Length)
                {
                    long n = (long)LibC.read(fd, p + total, buffer.Length - total);
                    if (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                        continue;
                    if (n <= 0)
                        break;
                    total += (int)n;
                }
            }
            return total;
        }

        /// <summary>One read(2), retrying EINTR: bytes read, 0 at EOF, -errno on error.</summary>
        public static int ReadSome(int fd, Span<byte> buffer)
        {
            fixed (byte* p = buffer)
            {
                while (true)
                {
                    long n = (long)LibC.read(fd, p, buffer.Length);
                    if (n >= 0)
                        return (int)n;
                    int err = Marshal.GetLastPInvokeError();
                    if (err != (int)Errno.EINTR)
                        return -err;
                }
            }
        }

        /// <summary>Writes all of <paramref name="data"/>, retrying EINTR; returns 0 or errno.</summary>
        public static int WriteAll(int fd, ReadOnlySpan<byte> data)
        {
            fixed (byte* p = data)
            {
                int done = 0;
                while (done < data.Length)
                {
                    long n = (long)LibC.write(fd, p + done, data.Length - done);
                    if (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                        continue;
                    if (n < 0)
                        return Marshal.GetLastPInvokeError();
                    done += (int)n;
                }
            }
            return 0;
        }

        /// <summary>Opens and writes a /proc file in one write(2), as uid_map requires. Returns 0 or errno.</summary>
        public static int WriteProcFile(string path, string text)
        {
            int fd;
            fixed (byte* p = System.Text.Encoding.UTF8.GetBytes(path + "\0"))
                fd = LibC.open(p, LibC.O_WRONLY | LibC.O_CLOEXEC);
            if (fd < 0)
                return Marshal.GetLastPInvokeError();
            try
            {
                byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
                fixed (byte* b = bytes)
                {
                    long n;
                    do
                        n = (long)LibC.write(fd, b, bytes.Length);
                    while (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR);
                    return n < 0 ? Marshal.GetLastPInvokeError() : 0;
                }
            }
            finally
            {
                LibC.close(fd);
            }
        }

        /// <summary>open(O_RDONLY|O_CLOEXEC): the fd, or -errno.</summary>
        public static int OpenReadOnly(string path)
        {
            int fd;
            fixed (byte* p = System.Text.Encoding.UTF8.GetBytes(path + "\0"))
                fd = LibC.open(p, LibC.O_RDONLY | LibC.O_CLOEXEC);
            return fd < 0 ? -Marshal.GetLastPInvokeError() : fd;
        }

        [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial nint RealPathNative(string path, nint resolved);

        [LibraryImport("libc", EntryPoint = "free")]
        private static partial void Free(nint p);

        /// <summary>realpath(3): every link and `..` resolved; null when the path does not exist.</summary>
        public static string? RealPath(string path)
        {
            nint p = RealPathNative(path, 0);
            if (p == 0)
                return null;
            try
            {
                return Marshal.PtrToStringUTF8(p);
            }
            finally
            {
                Free(p);
            }
        }

        public static bool IsTerminal(int fd) => LibC.isatty(fd) == 1;

        public static uint GetUid() => LibC.getuid();

        public static uint GetGid() => LibC.getgid();

        public static uint GetEuid() => LibC.geteuid();

        /// <summary>What lstat(2) says of a path (a link is described itself, not followed); null when it does not exist.</summary>
        public readonly record struct Status(uint Uid, uint Mode, bool IsDirectory);

        public static Status? LStat(string path)
        {
            stat st;
            fixed (byte* p = System.Text.Encoding.UTF8.GetBytes(path + "\0"))
            {
                if (LibC.lstat(p, &st) < 0)
                    return null;
            }
            uint mode = (uint)st.st_mode;
            return new Status(st.st_uid, mode, (mode & (uint)LibC.S_IFMT) == (uint)LibC.S_IFDIR);
        }
    }
}
