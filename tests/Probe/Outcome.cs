using System.Diagnostics;
using System.Text;

namespace Sandboxrun.Probe;

internal enum OutcomeKind
{
    Ok,
    Err,
    Usage,
    Refused,
    Silent,
}

/// <summary>The final line of a command and the exit status that goes with it:
/// ok -> 0, err -> 1, usage -> 2, refused -> 3; Silent prints nothing and exits with its own status.</summary>
internal readonly record struct Outcome(OutcomeKind Kind, string Token, string? Detail, int SilentStatus = 0)
{
    public static Outcome Ok(string? detail = null) => new(OutcomeKind.Ok, "ok", detail);

    public static Outcome Fail(Errno errno, string? detail = null) => new(OutcomeKind.Err, errno.Name(), detail);

    public static Outcome Fail(string token, string? detail = null) => new(OutcomeKind.Err, token, detail);

    /// <summary>Err with the errno of the P/Invoke that just failed.</summary>
    public static Outcome LastError(string? detail = null) => Fail(Interop.LastErrno, detail);

    /// <summary>ok when rc is not -1, otherwise err with the errno of that call.</summary>
    public static Outcome FromCall(long rc, string? detail = null) => rc == -1 ? LastError(detail) : Ok(detail);

    public static Outcome Usage(string message) => new(OutcomeKind.Usage, "USAGE", message);

    public static Outcome Refused => new(OutcomeKind.Refused, "refused", null);

    public static Outcome Silent(int status) => new(OutcomeKind.Silent, "", null, status);

    public int ExitStatus => Kind switch
    {
        OutcomeKind.Ok => 0,
        OutcomeKind.Err => 1,
        OutcomeKind.Usage => 2,
        OutcomeKind.Refused => 3,
        OutcomeKind.Silent => SilentStatus,
        _ => throw new UnreachableException(),
    };

    public string? FinalLine => Kind switch
    {
        OutcomeKind.Ok => Detail is null ? "ok" : $"ok {Detail}",
        OutcomeKind.Err or OutcomeKind.Usage => Detail is null ? $"err {Token}" : $"err {Token} {Detail}",
        OutcomeKind.Refused => "refused: not inside a sandbox",
        OutcomeKind.Silent => null,
        _ => throw new UnreachableException(),
    };
}

/// <summary>Writes straight to fd 1 (and 2) with write(2). System.Console is avoided on purpose: it dup()s
/// stdout and may install terminal signal handling, which would show up in `fds` and `fds-check`.</summary>
internal static unsafe class Out
{
    public static void Line(string text) => WriteLine(1, text);

    public static void Error(string text) => WriteLine(2, text);

    private static void WriteLine(int fd, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text + "\n");
        fixed (byte* pinned = bytes)
        {
            byte* start = pinned;
            nint done = 0;
            while (done < bytes.Length)
            {
                nint written = Interop.Retry(() => Interop.Fs.Write(fd, start + done, bytes.Length - done));
                if (written <= 0)
                {
                    return; // closed or broken or broken: nothing sensible left to report to
                }

                done += written;
            }
        }
    }
}

/// <summary>Thrown while parsing arguments; Main turns it into exit status 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
