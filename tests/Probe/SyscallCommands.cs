using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Sandboxrun.Probe;

/// <summary>
/// Raw system calls with integer arguments, to check a seccomp filter from inside the sandbox
/// (bubblewrap's try-syscall): the tests pass a bad fd, pointer or flag so that a call the filter
/// lets through fails harmlessly (EBADF, EFAULT, EINVAL) and only the filter answers EPERM.
/// Output: "ok RET" or "err ERRNO".
/// </summary>
internal static unsafe partial class SyscallCommands
{
    /// <summary>syscall NR [ARGS...]: the x86_64 entry, through libc's syscall(2).</summary>
    public static Outcome Native(string[] args)
    {
        (long nr, long[] a) = Words(args, 6);
        long rc = Interop.RawSyscall.Call(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        return rc == -1 ? Outcome.LastError() : Outcome.Ok(rc.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// syscall-loop COUNT NR [ARGS...]: the same call COUNT times in a tight loop. Prints
    /// "calls=COUNT ns_per_call=X outcomes=OUTCOME:N,..." (each distinct result: ok or an errno name,
    /// with how many calls had it), then the last call's outcome as the final line.
    /// </summary>
    public static Outcome Loop(string[] args)
    {
        int count = Parse.Int(args[0], 1, int.MaxValue);
        (long nr, long[] a) = Words(args[1..], 6);
        int[] errors = new int[4096];
        int oks = 0;
        long rc = 0;
        int errno = 0;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            rc = Interop.RawSyscall.Call(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            if (rc == -1)
            {
                errno = Marshal.GetLastPInvokeError();
                errors[errno & 4095]++;
            }
            else
            {
                oks++;
            }
        }

        double ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / count;
        var outcomes = new List<string>();
        if (oks > 0)
        {
            outcomes.Add(string.Create(CultureInfo.InvariantCulture, $"ok:{oks}"));
        }

        for (int e = 0; e < errors.Length; e++)
        {
            if (errors[e] > 0)
            {
                outcomes.Add(string.Create(CultureInfo.InvariantCulture, $"{((Errno)e).Name()}:{errors[e]}"));
            }
        }

        Out.Line(string.Create(CultureInfo.InvariantCulture, $"calls={count} ns_per_call={ns:F1} outcomes={string.Join(',', outcomes)}"));
        return rc == -1 ? Outcome.Fail((Errno)errno) : Outcome.Ok(rc.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>x32 NR [ARGS...]: the same entry with __X32_SYSCALL_BIT (0x40000000) set in the number.</summary>
    public static Outcome X32(string[] args)
    {
        (long nr, long[] a) = Words(args, 6);
        long rc = Interop.RawSyscall.Call(0x40000000 | nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        return rc == -1 ? Outcome.LastError() : Outcome.Ok(rc.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// int80 NR [ARGS...]: the i386 entry (int $0x80) from this 64-bit process, with i386 numbers
    /// (getpid is 20). The kernel reports such calls to seccomp with AUDIT_ARCH_I386. C# has no
    /// inline assembly, so a nine-instruction stub is written to an mmap'd page, made executable,
    /// and called through a function pointer. Its result is the raw return value (-errno on error).
    /// </summary>
    public static Outcome Int80(string[] args)
    {
        (long nr, long[] a) = Words(args, 5);
        var call = (delegate* unmanaged<int, int, int, int, int, int, int>)Int80Stub();
        int rc = call((int)nr, (int)a[0], (int)a[1], (int)a[2], (int)a[3], (int)a[4]);
        return rc is < 0 and > -4096 ? Outcome.Fail((Errno)(-rc)) : Outcome.Ok(rc.ToString(CultureInfo.InvariantCulture));
    }

    // int stub(int nr, int a1, int a2, int a3, int a4, int a5): SysV passes edi, esi, edx, ecx, r8d,
    // r9d; the i386 syscall ABI takes eax (number), ebx, ecx, edx, esi, edi. rbx is callee-saved.
    private static readonly byte[] s_int80 =
    [
        0x53,                   // push rbx
        0x89, 0xF8,             // mov eax, edi      nr
        0x89, 0xF3,             // mov ebx, esi      a1
        0x41, 0x89, 0xD3,       // mov r11d, edx     (a2, kept while ecx is read)
        0x89, 0xCA,             // mov edx, ecx      a3
        0x44, 0x89, 0xD9,       // mov ecx, r11d     a2
        0x44, 0x89, 0xC6,       // mov esi, r8d      a4
        0x44, 0x89, 0xCF,       // mov edi, r9d      a5
        0xCD, 0x80,             // int 0x80
        0x5B,                   // pop rbx
        0xC3,                   // ret
    ];

    private static nint Int80Stub()
    {
        const int PageSize = 4096;
        nint page = Interop.RawSyscall.Mmap(0, PageSize, Interop.RawSyscall.PROT_READ | Interop.RawSyscall.PROT_WRITE,
            Interop.RawSyscall.MAP_PRIVATE | Interop.RawSyscall.MAP_ANONYMOUS, -1, 0);
        if (page == -1)
        {
            throw new UsageException($"mmap: {Interop.LastErrno.Name()}");
        }

        s_int80.CopyTo(new Span<byte>((void*)page, s_int80.Length));
        if (Interop.RawSyscall.Mprotect(page, PageSize, Interop.RawSyscall.PROT_READ | Interop.RawSyscall.PROT_EXEC) != 0)
        {
            throw new UsageException($"mprotect: {Interop.LastErrno.Name()}");
        }

        return page;
    }

    /// <summary>The number and up to <paramref name="max"/> arguments (decimal, negative, or 0x hex; missing ones are 0).</summary>
    private static (long Nr, long[] Args) Words(string[] args, int max)
    {
        if (args.Length - 1 > max)
        {
            throw new UsageException($"at most {max} arguments");
        }

        var words = new long[max];
        for (int i = 1; i < args.Length; i++)
        {
            words[i - 1] = Word(args[i]);
        }

        return (Word(args[0]), words);
    }

    private static long Word(string text)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            && ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong hex))
        {
            return (long)hex;
        }

        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
        {
            return value;
        }

        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong big)
            ? (long)big
            : throw new UsageException($"'{text}' is not an integer");
    }
}

internal static unsafe partial class Interop
{
    internal static partial class RawSyscall
    {
        public const int PROT_READ = 0x1;
        public const int PROT_WRITE = 0x2;
        public const int PROT_EXEC = 0x4;
        public const int MAP_PRIVATE = 0x02;
        public const int MAP_ANONYMOUS = 0x20;

        /// <summary>syscall(2) is variadic; on x86_64 integer varargs use the same registers as fixed ones.</summary>
        [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
        public static partial long Call(long nr, long a1, long a2, long a3, long a4, long a5, long a6);

        [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
        public static partial nint Mmap(nint address, nint length, int protection, int flags, int fd, long offset);

        [LibraryImport(Libc, EntryPoint = "mprotect", SetLastError = true)]
        public static partial int Mprotect(nint address, nint length, int protection);
    }
}
