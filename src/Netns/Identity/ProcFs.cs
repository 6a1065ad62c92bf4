using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Sandboxrun.Netns.Identity;

/// <summary>
/// /proc read with plain system calls, for the per-request identity walk. The framework's file
/// and directory APIs cost more here than the work itself: enumerating /proc/PID/fd stats every
/// link and its target, and every FileStream takes an advisory lock (bench/README.md counted about
/// 200 system calls per request). Paths are built in stack buffers; nothing here allocates per
/// entry except the names a directory listing returns.
/// </summary>
public static unsafe partial class ProcFs
{
    private const int ORdOnly = 0, OCloexec = 0x80000, ODirectory = 0x10000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    private static partial int Open(byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true)]
    private static partial nint ReadLinkNative(byte* path, byte* buffer, nuint size);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long GetDents64(long nr, int fd, byte* buffer, nuint count);

    private const long SysGetdents64 = 217; // x86_64

    /// <summary>The entries of a directory other than . and .., or an empty list when it cannot be read.</summary>
    public static List<string> List(string path)
    {
        var names = new List<string>();
        int fd = OpenPath(path, ORdOnly | OCloexec | ODirectory);
        if (fd < 0)
            return names;
        try
        {
            byte* buffer = stackalloc byte[8192];
            while (true)
            {
                long n = GetDents64(SysGetdents64, fd, buffer, 8192);
                if (n <= 0)
                    return names;
                for (long off = 0; off < n;)
                {
                    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                    ushort reclen = *(ushort*)(buffer + off + 16);
                    var name = new ReadOnlySpan<byte>(buffer + off + 19, reclen - 19);
                    name = name[..name.IndexOf((byte)0)];
                    if (!(name.SequenceEqual("."u8) || name.SequenceEqual(".."u8)))
                        names.Add(Encoding.UTF8.GetString(name));
                    off += reclen;
                }
            }
        }
        finally
        {
            Close(fd);
        }
    }

    /// <summary>Reads at most buffer.Length bytes of a (small, /proc) file; the count, or -1.</summary>
    public static int ReadSmall(string path, Span<byte> buffer)
    {
        int fd = OpenPath(path, ORdOnly | OCloexec);
        if (fd < 0)
            return -1;
        try
        {
            int total = 0;
            fixed (byte* b = buffer)
            {
                while (total < buffer.Length)
                {
                    nint n = Read(fd, b + total, (nuint)(buffer.Length - total));
                    if (n <= 0)
                        break;
                    total += (int)n;
                }
            }
            return total;
        }
        finally
        {
            Close(fd);
        }
    }

    /// <summary>The link's target bytes, written to <paramref name="target"/>; the length, or -1.</summary>
    public static int ReadLink(string path, Span<byte> target)
    {
        Span<byte> p = stackalloc byte[256];
        if (!Terminated(path, p))
            return -1;
        fixed (byte* pp = p)
        fixed (byte* t = target)
            return (int)ReadLinkNative(pp, t, (nuint)target.Length);
    }

    /// <summary>The parent pid from /proc/PID/stat (the field after the state, past the last ')'), or 0.</summary>
    public static int ParentOf(int pid)
    {
        Span<byte> stat = stackalloc byte[1024];
        int n = ReadSmall(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/stat"), stat);
        if (n <= 0)
            return 0;
        ReadOnlySpan<byte> text = stat[..n];
        int close = text.LastIndexOf((byte)')');
        if (close < 0 || close + 4 >= text.Length)
            return 0;
        ReadOnlySpan<byte> rest = text[(close + 4)..]; // ") S " then ppid
        int end = rest.IndexOf((byte)' ');
        return int.TryParse(end < 0 ? rest : rest[..end], NumberStyles.None, CultureInfo.InvariantCulture, out int ppid) ? ppid : 0;
    }

    /// <summary>open(2) of a path short enough for the stack buffer; the fd, or -1.</summary>
    private static int OpenPath(string path, int flags)
    {
        Span<byte> p = stackalloc byte[256];
        if (!Terminated(path, p))
            return -1;
        fixed (byte* pp = p)
            return Open(pp, flags);
    }

    private static bool Terminated(string path, Span<byte> buffer)
    {
        if (Encoding.UTF8.GetMaxByteCount(path.Length) >= buffer.Length && Encoding.UTF8.GetByteCount(path) >= buffer.Length)
            return false;
        int n = Encoding.UTF8.GetBytes(path, buffer);
        buffer[n] = 0;
        return true;
    }
}
