using System.Runtime.InteropServices;

namespace Sandboxrun.Interop;

internal static partial class Interop
{
    /// <summary>Unix socket pairs and SCM_RIGHTS (unix(7)).</summary>
    internal static unsafe partial class Sockets
    {
        private const int AfUnix = 1;
        private const int SockSeqPacket = 5;
        private const int SockCloexec = 0x80000;
        private const int SolSocket = 1;
        private const int ScmRights = 1;
        private const int MsgCmsgCloexec = 0x40000000;

        [StructLayout(LayoutKind.Sequential)]
        private struct IoVec
        {
            public void* Base;
            public nuint Len;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct MsgHdr
        {
            public void* Name;
            public uint NameLen;
            public IoVec* Iov;
            public nuint IovLen;
            public void* Control;
            public nuint ControlLen;
            public int Flags;
        }

        [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
        private static partial int SocketPair(int domain, int type, int protocol, int* fds);

        [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
        private static partial nint RecvMsg(int fd, MsgHdr* msg, int flags);

        /// <summary>A SOCK_SEQPACKET pair, both CLOEXEC: (ours, the child's).</summary>
        public static (int Ours, int Theirs) SeqPacketPair(string purpose)
        {
            int* fds = stackalloc int[2];
            if (SocketPair(AfUnix, SockSeqPacket | SockCloexec, 0, fds) < 0)
                throw new SandboxSetupException("socketpair", Marshal.GetLastPInvokeError(), "creating " + purpose);
            return (fds[0], fds[1]);
        }

        /// <summary>Receives one message carrying up to <paramref name="max"/> fds (CLOEXEC); empty on EOF or error.</summary>
        public static int[] ReceiveFds(int fd, int max)
        {
            byte data;
            var iov = new IoVec { Base = &data, Len = 1 };
            int controlLen = 16 + (4 * max) + 8; // CMSG_SPACE: header + fds, aligned
            byte* control = stackalloc byte[controlLen];
            new Span<byte>(control, controlLen).Clear();
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = (nuint)controlLen };
            nint n;
            do
                n = RecvMsg(fd, &msg, MsgCmsgCloexec);
            while (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR);
            if (n <= 0 || msg.ControlLen < 16)
                return [];
            // struct cmsghdr { size_t len; int level; int type; } then the fds.
            nuint len = *(nuint*)control;
            if (*(int*)(control + 8) != SolSocket || *(int*)(control + 12) != ScmRights)
                return [];
            int count = (int)((len - 16) / 4);
            var result = new int[count];
            for (int i = 0; i < count; i++)
                result[i] = *(int*)(control + 16 + (4 * i));
            return result;
        }

        [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
        private static partial int ShutdownNative(int fd, int how);

        /// <summary>shutdown(SHUT_WR): the peer reads end of input; this side can still read.</summary>
        public static void ShutdownWrite(int fd) => ShutdownNative(fd, 1);

        /// <summary>shutdown(SHUT_RDWR): wakes any thread blocked on the socket (reads return 0, accept(2) EINVAL).</summary>
        public static void ShutdownBoth(int fd) => ShutdownNative(fd, 2);
    }
}
