using System.Runtime.InteropServices;

namespace Sandboxrun.Interop;

internal static partial class Interop
{
    /// <summary>Pseudo-terminal and termios calls (asm-generic/ioctls.h numbers).</summary>
    internal static unsafe partial class Terminal
    {
        private const ulong TiocsPtLck = 0x40045431;
        private const ulong TiocgPtPeer = 0x5441;
        private const ulong TiocgWinSz = 0x5413;
        private const ulong TiocsWinSz = 0x5414;
        private const int ORdWr = 2, ONoCtty = 0x100, OCloexec = 0x80000;
        public const int TermiosSize = 60; // struct termios on x86_64 glibc
        private const int TcsaNow = 0;

        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
        private static partial int Ioctl(int fd, ulong request, void* arg);

        [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
        private static partial int IoctlInt(int fd, ulong request, nint arg);

        [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
        private static partial int TcGetAttr(int fd, byte* termios);

        [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
        private static partial int TcSetAttr(int fd, int action, byte* termios);

        [LibraryImport("libc", EntryPoint = "cfmakeraw")]
        private static partial void CfMakeRaw(byte* termios);

        /// <summary>A new pty from the host's /dev/ptmx: (master, slave), both CLOEXEC, or throws.</summary>
        public static (int Master, int Slave) OpenPty()
        {
            int master = Open("/dev/ptmx", ORdWr | ONoCtty | OCloexec);
            if (master < 0)
                throw new SandboxSetupException("pty", Marshal.GetLastPInvokeError(), "opening /dev/ptmx");
            int unlock = 0;
            if (Ioctl(master, TiocsPtLck, &unlock) < 0)
                throw Fail(master, "unlocking the pty");
            int slave = IoctlInt(master, TiocgPtPeer, ORdWr | ONoCtty | OCloexec);
            if (slave < 0)
                throw Fail(master, "opening the pty's peer (TIOCGPTPEER, Linux 4.13+)");
            return (master, slave);
        }

        private static SandboxSetupException Fail(int fd, string what)
        {
            int err = Marshal.GetLastPInvokeError();
            Files.Close(fd);
            return new SandboxSetupException("pty", err, what);
        }

        public static byte[]? GetAttributes(int fd)
        {
            var t = new byte[TermiosSize];
            fixed (byte* p = t)
                return TcGetAttr(fd, p) == 0 ? t : null;
        }

        public static void SetAttributes(int fd, byte[] termios)
        {
            fixed (byte* p = termios)
                TcSetAttr(fd, TcsaNow, p);
        }

        public static byte[] MakeRaw(byte[] termios)
        {
            byte[] raw = (byte[])termios.Clone();
            fixed (byte* p = raw)
                CfMakeRaw(p);
            return raw;
        }

        /// <summary>Copies the window size of <paramref name="from"/> to <paramref name="to"/> (the kernel then signals SIGWINCH).</summary>
        public static void CopyWindowSize(int from, int to)
        {
            ulong size = 0; // struct winsize: 4 x u16
            if (Ioctl(from, TiocgWinSz, &size) == 0)
                Ioctl(to, TiocsWinSz, &size);
        }
    }
}
