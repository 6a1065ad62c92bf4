using System.Runtime.InteropServices;

namespace Sandboxrun.Seccomp;

internal static partial class Interop
{
    internal static unsafe partial class Seccomp
    {
        private const long SysSeccomp = 317;
        private const uint SeccompGetActionAvail = 2;
        private const uint SeccompGetNotifSizes = 3;

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static unsafe partial long Syscall(long nr, uint op, uint flags, void* args);

        /// <summary>seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &amp;action): 0 when the kernel knows the action.</summary>
        internal static long ActionAvailable(uint action) => Syscall(SysSeccomp, SeccompGetActionAvail, 0, &action);

        // linux/seccomp.h. struct seccomp_notif { __u64 id; __u32 pid; __u32 flags; struct seccomp_data data; }
        [StructLayout(LayoutKind.Sequential)]
        internal struct SeccompNotif
        {
            public ulong Id;
            public uint Pid;
            public uint Flags;
            public int Nr;
            public uint Arch;
            public ulong InstructionPointer;
            public fixed ulong Args[6];
        }

        // struct seccomp_notif_resp { __u64 id; __s64 val; __s32 error; __u32 flags; }
        [StructLayout(LayoutKind.Sequential)]
        internal struct SeccompNotifResp
        {
            public ulong Id;
            public long Val;
            public int Error;
            public uint Flags;
        }

        // struct seccomp_notif_sizes { __u16 seccomp_notif; __u16 seccomp_notif_resp; __u16 seccomp_data; }
        [StructLayout(LayoutKind.Sequential)]
        internal struct SeccompNotifSizes
        {
            public ushort Notif;
            public ushort Resp;
            public ushort Data;
        }

        // _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp), _IOW('!', 2, __u64).
        // Linux 5.0-5.6 defined ID_VALID as _IOR (0x80082102); 5.7+ accepts both, so the old value works everywhere.
        internal const ulong IoctlNotifRecv = 0xC0502100;
        internal const ulong IoctlNotifSend = 0xC0182101;
        internal const ulong IoctlNotifIdValid = 0x80082102;

        // _IOW('!', 4, __u64), Linux 6.6; the argument is the flags value itself.
        internal const ulong IoctlNotifSetFlags = 0x40082104;

        /// <summary>SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: the caller and the supervisor hand the CPU to each
        /// other (the waker's CPU runs the woken task) instead of waking an idle one for every step.</summary>
        internal const ulong NotifFdSyncWakeUp = 1;

        /// <summary>seccomp(SECCOMP_GET_NOTIF_SIZES): the kernel's struct sizes, which may grow past ours (5.0+).</summary>
        internal static int NotifSizes(out SeccompNotifSizes sizes)
        {
            SeccompNotifSizes s;
            long rc = Syscall(SysSeccomp, SeccompGetNotifSizes, 0, &s);
            sizes = s;
            return rc < 0 ? Marshal.GetLastPInvokeError() : 0;
        }

        [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
        private static partial int Ioctl(int fd, ulong request, void* arg);

        /// <summary>ioctl(fd, request, arg): 0 or errno.</summary>
        internal static int DangerousIoctl(int fd, ulong request, void* arg) =>
            Ioctl(fd, request, arg) < 0 ? Marshal.GetLastPInvokeError() : 0;

        // struct pollfd { int fd; short events; short revents; }
        [StructLayout(LayoutKind.Sequential)]
        internal struct PollFd
        {
            public int Fd;
            public short Events;
            public short Revents;
        }

        internal const short PollIn = 0x1, PollErr = 0x8, PollHup = 0x10, PollNval = 0x20;

        [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
        private static partial int PollRaw(PollFd* fds, nuint count, int timeoutMs);

        /// <summary>poll(2): the number of ready fds, or -errno.</summary>
        internal static int Poll(PollFd* fds, int count, int timeoutMs) =>
            PollRaw(fds, (nuint)count, timeoutMs) is int n and >= 0 ? n : -Marshal.GetLastPInvokeError();

        [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
        private static partial int EventFdRaw(uint initial, int flags);

        private const int EfdCloexec = 0x80000;

        /// <summary>eventfd(0, EFD_CLOEXEC): fd or -errno.</summary>
        internal static int EventFd() => EventFdRaw(0, EfdCloexec) is int fd and >= 0 ? fd : -Marshal.GetLastPInvokeError();

        [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
        internal static partial nint Write(int fd, void* buffer, nuint count);

        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int OpenRaw(string path, int flags, int mode);

        private const int ORdOnly = 0, OCloexec = 0x80000;

        /// <summary>open(path, O_RDONLY | O_CLOEXEC), or null (no fstat or flock, unlike File.OpenHandle).</summary>
        internal static Microsoft.Win32.SafeHandles.SafeFileHandle? OpenReadOnly(string path) =>
            OpenRaw(path, ORdOnly | OCloexec, 0) is int fd and >= 0 ? new(fd, ownsHandle: true) : null;

        [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial nint ReadLinkRaw(string path, byte* buffer, nuint size);

        /// <summary>readlink(2) of <paramref name="path"/>, or null.</summary>
        internal static string? ReadLink(string path)
        {
            byte* buffer = stackalloc byte[4096];
            nint n = ReadLinkRaw(path, buffer, 4096);
            return n is < 0 or >= 4096 ? null : System.Text.Encoding.UTF8.GetString(buffer, (int)n);
        }
    }
}

/// <summary>An fd this process owns (fd 0 is valid): closed once, when released.</summary>
internal sealed partial class FileDescriptorHandle : SafeHandle
{
    public FileDescriptorHandle(int fd)
        : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    public int Fd => (int)handle;

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    protected override bool ReleaseHandle() => Close((int)handle) == 0;
}
