using System.Runtime.InteropServices;
using System.Text;

namespace Sandboxrun.Interop;

internal static partial class Interop
{
    /// <summary>The new mount API (open_tree(2), mount_setattr(2)); numbers: x86_64.</summary>
    internal static unsafe partial class Mount
    {
        private const long SysOpenTree = 428;
        private const long SysMountSetattr = 442;
        private const uint OpenTreeClone = 1;
        private const uint OpenTreeCloexec = 0x80000; // O_CLOEXEC
        private const uint AtRecursive = 0x8000;
        private const uint AtEmptyPath = 0x1000;
        private const ulong MountAttrIdmap = 0x00100000;

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall3(long nr, long dirfd, byte* path, uint flags);

        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static partial long Syscall5(long nr, long dirfd, byte* path, uint flags, void* attr, nuint size);

        /// <summary>
        /// A detached recursive copy of <paramref name="path"/> whose ids are mapped through the
        /// user namespace <paramref name="usernsFd"/>. Returns the mount fd, or -errno.
        /// </summary>
        public static int OpenIdmappedTree(string path, int usernsFd)
        {
            byte[] p = Encoding.UTF8.GetBytes(path + "\0");
            int fd;
            fixed (byte* pp = p)
                fd = (int)Syscall3(SysOpenTree, -100 /* AT_FDCWD */, pp, OpenTreeClone | OpenTreeCloexec | AtRecursive);
            if (fd < 0)
                return -Marshal.GetLastPInvokeError();
            ulong* attr = stackalloc ulong[4] { MountAttrIdmap, 0, 0, (ulong)usernsFd };
            byte empty = 0;
            if (Syscall5(SysMountSetattr, fd, &empty, AtEmptyPath | AtRecursive, attr, 32) < 0)
            {
                int err = Marshal.GetLastPInvokeError();
                Files.Close(fd);
                return -err;
            }
            return fd;
        }
    }
}
