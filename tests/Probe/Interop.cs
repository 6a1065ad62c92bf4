using System.Runtime.InteropServices;

namespace Sandboxrun.Probe;

/// <summary>Raw glibc entry points (x86_64). Variadic functions (open, ioctl, prctl, ptrace) are declared
/// with fixed integer arguments: on the SysV x86_64 ABI integer varargs travel in the same registers.</summary>
internal static unsafe partial class Interop
{
    private const string Libc = "libc";

    public static Errno LastErrno => (Errno)Marshal.GetLastPInvokeError();

    /// <summary>Repeats <paramref name="call"/> while it fails with EINTR.</summary>
    public static int Retry(Func<int> call)
    {
        int rc;
        while ((rc = call()) == -1 && LastErrno == Errno.EINTR)
        {
        }

        return rc;
    }

    public static nint Retry(Func<nint> call)
    {
        nint rc;
        while ((rc = call()) == -1 && LastErrno == Errno.EINTR)
        {
        }

        return rc;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    internal static partial class Fs
    {
        public const int O_RDONLY = 0x0;
        public const int O_WRONLY = 0x1;
        public const int O_CREAT = 0x40;
        public const int O_TRUNC = 0x200;
        public const int O_APPEND = 0x400;
        public const int O_CLOEXEC = 0x80000;
        public const int MNT_DETACH = 0x2;

        /// <summary>struct stat for x86_64 (arch/x86/include/uapi/asm/stat.h), 144 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct Stat
        {
            public ulong Dev;
            public ulong Ino;
            public ulong Nlink;
            public uint Mode;
            public uint Uid;
            public uint Gid;
            public int Pad0;
            public ulong Rdev;
            public long Size;
            public long BlockSize;
            public long Blocks;
            public Timespec Atime;
            public Timespec Mtime;
            public Timespec Ctime;
            public fixed long Reserved[3];
        }

        [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Open(string path, int flags, int mode);

        [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
        public static partial int Close(int fd);

        [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
        public static partial nint Read(int fd, byte* buffer, nint count);

        [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
        public static partial nint Write(int fd, byte* buffer, nint count);

        [LibraryImport(Libc, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Unlink(string path);

        [LibraryImport(Libc, EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Mkdir(string path, int mode);

        [LibraryImport(Libc, EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Chmod(string path, int mode);

        [LibraryImport(Libc, EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int StatPath(string path, Stat* buffer);

        [LibraryImport(Libc, EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial nint ReadLink(string path, byte* buffer, nint size);

        [LibraryImport(Libc, EntryPoint = "getcwd", SetLastError = true)]
        public static partial nint GetCwd(byte* buffer, nint size);

        [LibraryImport(Libc, EntryPoint = "opendir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial nint OpenDir(string path);

        /// <summary>Returns struct dirent64*: d_ino(8) d_off(8) d_reclen(2) d_type(1) d_name at offset 19.</summary>
        [LibraryImport(Libc, EntryPoint = "readdir", SetLastError = true)]
        public static partial nint ReadDir(nint dir);

        [LibraryImport(Libc, EntryPoint = "closedir", SetLastError = true)]
        public static partial int CloseDir(nint dir);

        [LibraryImport(Libc, EntryPoint = "dirfd", SetLastError = true)]
        public static partial int DirFd(nint dir);

        [LibraryImport(Libc, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Mount(string source, string target, string fsType, nuint flags, nint data);

        [LibraryImport(Libc, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Umount2(string target, int flags);

        [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
        public static partial int Ioctl(int fd, nuint request, byte* argument);
    }

    internal static partial class Proc
    {
        public const int PR_GET_NO_NEW_PRIVS = 39;
        public const long PTRACE_CONT = 7;
        public const long PTRACE_ATTACH = 16;
        public const long PTRACE_DETACH = 17;
        public const int WALL = 0x40000000;
        public const int CLONE_NEWUSER = 0x10000000;

        [LibraryImport(Libc, EntryPoint = "getpid")]
        public static partial int GetPid();

        [LibraryImport(Libc, EntryPoint = "getuid")]
        public static partial uint GetUid();

        [LibraryImport(Libc, EntryPoint = "getgid")]
        public static partial uint GetGid();

        [LibraryImport(Libc, EntryPoint = "geteuid")]
        public static partial uint GetEuid();

        [LibraryImport(Libc, EntryPoint = "getegid")]
        public static partial uint GetEgid();

        [LibraryImport(Libc, EntryPoint = "getgroups", SetLastError = true)]
        public static partial int GetGroups(int size, uint* list);

        [LibraryImport(Libc, EntryPoint = "setuid", SetLastError = true)]
        public static partial int SetUid(uint uid);

        [LibraryImport(Libc, EntryPoint = "prctl", SetLastError = true)]
        public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

        [LibraryImport(Libc, EntryPoint = "gethostname", SetLastError = true)]
        public static partial int GetHostName(byte* name, nint length);

        [LibraryImport(Libc, EntryPoint = "sethostname", SetLastError = true)]
        public static partial int SetHostName(byte* name, nint length);

        [LibraryImport(Libc, EntryPoint = "ptrace", SetLastError = true)]
        public static partial long Ptrace(long request, int pid, nint address, nint data);

        [LibraryImport(Libc, EntryPoint = "waitpid", SetLastError = true)]
        public static partial int WaitPid(int pid, int* status, int options);

        [LibraryImport(Libc, EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Execve(string path, nint argv, nint envp);

        [LibraryImport(Libc, EntryPoint = "nanosleep", SetLastError = true)]
        public static partial int NanoSleep(Timespec* request, Timespec* remaining);

        /// <summary>Returns the error number instead of setting errno.</summary>
        [LibraryImport(Libc, EntryPoint = "posix_spawn", StringMarshalling = StringMarshalling.Utf8)]
        public static partial int PosixSpawn(int* pid, string path, nint fileActions, nint attributes, nint argv, nint envp);

        /// <summary>posix_spawn_file_actions_t is 80 bytes on glibc x86_64.</summary>
        public const int FileActionsSize = 80;

        [LibraryImport(Libc, EntryPoint = "posix_spawn_file_actions_init")]
        public static partial int FileActionsInit(nint fileActions);

        [LibraryImport(Libc, EntryPoint = "posix_spawn_file_actions_addclose")]
        public static partial int FileActionsAddClose(nint fileActions, int fd);

        [LibraryImport(Libc, EntryPoint = "posix_spawn_file_actions_destroy")]
        public static partial int FileActionsDestroy(nint fileActions);

        public const int CLONE_VM = 0x100;
        public const int CLONE_VFORK = 0x4000;
        public const int SIGCHLD = 17;

        /// <summary>glibc clone(3): the child runs fn(arg) on <paramref name="stackTop"/> and exits with
        /// its return value. Without CLONE_SETTLS the child shares the caller's TLS, so with CLONE_VM an
        /// errno set by fn lands in the caller's errno, which SetLastError captures once CLONE_VFORK
        /// lets the caller resume (the child has exited by then).</summary>
        [LibraryImport(Libc, EntryPoint = "clone", SetLastError = true)]
        public static partial int Clone(delegate* unmanaged<nint, int> function, void* stackTop, int flags, nint argument);
    }

    internal static partial class Signals
    {
        public const int SIG_BLOCK = 0;
        public const int SIG_UNBLOCK = 1;
        public const nint SIG_DFL = 0;
        public const nint SIG_IGN = 1;

        /// <summary>glibc sigset_t: 1024 bits.</summary>
        public struct SigSet
        {
            private fixed ulong _bits[16];

            public static SigSet Of(int signal)
            {
                SigSet set = default;
                set._bits[(signal - 1) / 64] |= 1UL << ((signal - 1) % 64);
                return set;
            }
        }

        [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
        public static partial int Kill(int pid, int signal);

        [LibraryImport(Libc, EntryPoint = "raise", SetLastError = true)]
        public static partial int Raise(int signal);

        [LibraryImport(Libc, EntryPoint = "signal", SetLastError = true)]
        public static partial nint Signal(int signal, nint handler);

        [LibraryImport(Libc, EntryPoint = "pthread_sigmask")]
        public static partial int PthreadSigMask(int how, SigSet* set, SigSet* oldSet);

        [LibraryImport(Libc, EntryPoint = "sigtimedwait", SetLastError = true)]
        public static partial int SigTimedWait(SigSet* set, void* info, Timespec* timeout);
    }

    internal static partial class Net
    {
        public const int AF_UNIX = 1;
        public const int AF_INET = 2;
        public const int SOCK_STREAM = 1;
        public const int SOCK_NONBLOCK = 0x800;
        public const int SOCK_CLOEXEC = 0x80000;
        public const int SOL_SOCKET = 1;
        public const int SO_ERROR = 4;
        public const short POLLOUT = 0x4;
        public const uint SockaddrInSize = 16;

        [StructLayout(LayoutKind.Sequential)]
        public struct PollFd
        {
            public int Fd;
            public short Events;
            public short Revents;
        }

        [LibraryImport(Libc, EntryPoint = "socket", SetLastError = true)]
        public static partial int Socket(int domain, int type, int protocol);

        [LibraryImport(Libc, EntryPoint = "connect", SetLastError = true)]
        public static partial int Connect(int fd, byte* address, uint length);

        [LibraryImport(Libc, EntryPoint = "bind", SetLastError = true)]
        public static partial int Bind(int fd, byte* address, uint length);

        [LibraryImport(Libc, EntryPoint = "listen", SetLastError = true)]
        public static partial int Listen(int fd, int backlog);

        [LibraryImport(Libc, EntryPoint = "getsockname", SetLastError = true)]
        public static partial int GetSockName(int fd, byte* address, uint* length);

        [LibraryImport(Libc, EntryPoint = "getsockopt", SetLastError = true)]
        public static partial int GetSockOpt(int fd, int level, int option, int* value, uint* length);

        [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
        public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

        /// <summary>Returns 1 on success, 0 when the text is not an address (no errno).</summary>
        [LibraryImport(Libc, EntryPoint = "inet_pton", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int InetPton(int family, string text, byte* destination);
    }
}
