using System.Globalization;
using Sandboxrun.Interop;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Audit;

/// <summary>process.seccomp.log: one <c>seccomp.denied</c> event per refused call.</summary>
internal static class SeccompAudit
{
    public const string Event = "seccomp.denied";

    /// <summary>
    /// pid (host view), binary and sha256 (the caller's executable), syscall (its name; "x32:N" for
    /// an x32 number, which no table here names), nr, args (all six, hex: the filter sees registers,
    /// not what they point to) and errno (what the call returned).
    /// </summary>
    public static void Write(AuditLog audit, SeccompDenial d) =>
        audit.Write(Event,
            ("pid", (long)d.Pid),
            ("binary", d.Executable),
            ("sha256", d.Sha256),
            ("syscall", d.Syscall ?? SyscallText(d.Nr)),
            ("nr", (long)d.Nr),
            ("args", d.Args.Select(a => "0x" + a.ToString("x", CultureInfo.InvariantCulture)).ToArray()),
            ("errno", ErrnoText.Name(d.Errno)));

    /// <summary>What Launcher.SeccompDenied is told: events into <paramref name="audit"/>, or nothing without a log.</summary>
    public static Action<SeccompDenial>? Reporter(AuditLog? audit) => audit is null ? null : d => Write(audit, d);

    private static string SyscallText(uint nr) => (nr & Bpf.X32SyscallBit) != 0
        ? "x32:" + (nr & ~Bpf.X32SyscallBit).ToString(CultureInfo.InvariantCulture)
        : nr.ToString(CultureInfo.InvariantCulture);
}
