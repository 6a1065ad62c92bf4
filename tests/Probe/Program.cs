using System.Globalization;

namespace Sandboxrun.Probe;

/// <summary>
/// probe: runs inside a sandbox and reports what it may do from there (youki's runtimetest, gVisor's
/// victim). Contract, relied on by the tests: the last stdout line is "ok [detail]" or
/// "err NAME [detail]"; exit 0 = ok, 1 = err, 2 = usage, 3 = refused (a guarded command outside a
/// sandbox, see <see cref="SandboxGuard"/>). Informational lines may come before the last one.
/// </summary>
internal static class Program
{
    private static readonly Command[] Commands =
    [
        // Observations: no guard.
        new("id", "", false, _ => InfoCommands.Id()),
        new("caps", "", false, _ => InfoCommands.Caps()),
        new("nnp", "", false, _ => InfoCommands.NoNewPrivs()),
        new("ns", "", false, _ => InfoCommands.Namespaces()),
        new("pids", "", false, _ => InfoCommands.Pids()),
        new("env", "", false, _ => InfoCommands.Env()),
        new("fds", "", false, _ => InfoCommands.Fds(check: false)),
        new("fds-check", "", false, _ => InfoCommands.Fds(check: true)),
        new("ls", "PATH", false, a => InfoCommands.List(a[0])),
        new("fs-read", "PATH", false, a => FsCommands.Read(a[0])),
        new("stat", "PATH", false, a => InfoCommands.Stat(a[0])),
        new("hostname", "", false, _ => InfoCommands.Hostname()),
        new("cwd", "", false, _ => InfoCommands.Cwd()),
        new("zombies", "", false, _ => InfoCommands.Zombies()),

        // Only affect the probe itself, or connect without sending data (a host baseline stays possible).
        new("abstract-connect", "NAME", false, a => NetCommands.AbstractConnect(a[0])),
        new("unix-connect", "PATH", false, a => NetCommands.UnixConnect(a[0])),
        new("tcp-connect", "HOST PORT", false, a => NetCommands.TcpConnect(a[0], Parse.Port(a[1]))),
        new("tcp-listen", "PORT", false, a => NetCommands.TcpListen(Parse.Port(a[0]))),
        new("http-get", "URL", false, a => HttpCommands.Get(a[0])),
        new("exit", "N", false, a => Outcome.Silent(Parse.Int(a[0], 0, 255))),
        new("signal-self", "SIG", false, a => ProcessCommands.SignalSelf(Parse.Signal(a[0]))),
        new("sleep", "SECONDS", false, a => ProcessCommands.Sleep(Parse.Seconds(a[0]))),
        new("wait-signal", "SIG SECONDS", false, a => ProcessCommands.WaitSignal(Parse.Signal(a[0]), Parse.Seconds(a[1]))),
        new("orphans", "N", false, a => ProcessCommands.Orphans(Parse.Int(a[0], 0, 1000))),
        new("orphan-parent", "SECONDS", false, a => ProcessCommands.OrphanParent(Parse.Seconds(a[0]))),

        // Changes or attacks: guarded.
        new("fs-write", "PATH", true, a => FsCommands.Write(a[0])),
        new("fs-append", "PATH", true, a => FsCommands.Append(a[0])),
        new("fs-delete", "PATH", true, a => FsCommands.Delete(a[0])),
        new("mkdir", "PATH", true, a => FsCommands.Mkdir(a[0])),
        new("chmod", "MODE PATH", true, a => FsCommands.Chmod(Parse.Mode(a[0]), a[1])),
        new("mount-tmpfs", "PATH", true, a => FsCommands.MountTmpfs(a[0])),
        new("umount", "PATH", true, a => FsCommands.Umount(a[0])),
        new("tiocsti", "FD TEXT", true, a => FsCommands.Tiocsti(Parse.Int(a[0], 0, int.MaxValue), a[1])),
        new("hostname-set", "NAME", true, a => ProcessCommands.SetHostname(a[0])),
        new("kill", "PID SIG", true, a => ProcessCommands.Kill(Parse.Int(a[0], int.MinValue, int.MaxValue), Parse.Signal(a[1]))),
        new("ptrace-attach", "PID", true, a => ProcessCommands.PtraceAttach(Parse.Int(a[0], 1, int.MaxValue))),
        new("setuid", "UID", true, a => ProcessCommands.SetUid(Parse.UInt(a[0]))),
        new("unshare-user", "", true, _ => ProcessCommands.UnshareUser()),
        new("exec", "PATH [ARGS...]", true, a => ProcessCommands.Exec(a[0], a[1..])),
        new("rename", "FROM TO", true, a => LinkCommands.Rename(a[0], a[1])),
        new("link", "TARGET LINK", true, a => LinkCommands.HardLink(a[0], a[1])),
        new("symlink", "TARGET LINK", true, a => LinkCommands.SymLink(a[0], a[1])),
        new("truncate", "PATH", true, a => LinkCommands.Truncate(a[0])),
        new("syscall", "NR [ARGS...]", true, SyscallCommands.Native),
        new("syscall-loop", "COUNT NR [ARGS...]", true, SyscallCommands.Loop),
        new("x32", "NR [ARGS...]", true, SyscallCommands.X32),
        new("int80", "NR [ARGS...]", true, SyscallCommands.Int80),
    ];

    private static int Main(string[] args)
    {
        Outcome outcome = Dispatch(args, out Command? command);
        if (outcome.Kind == OutcomeKind.Usage)
        {
            Out.Error($"probe: {outcome.Detail}");
            foreach (Command known in command is null ? Commands : [command])
            {
                Out.Error($"usage: probe {known.Name} {known.Arguments}".TrimEnd());
            }
        }

        if (outcome.FinalLine is { } line)
        {
            Out.Line(line);
        }

        return outcome.ExitStatus;
    }

    private static Outcome Dispatch(string[] args, out Command? command)
    {
        command = null;
        if (args.Length == 0)
        {
            return Outcome.Usage("missing command");
        }

        command = Array.Find(Commands, c => c.Name == args[0]);
        if (command is null)
        {
            return Outcome.Usage($"unknown command '{args[0]}'");
        }

        string[] rest = args[1..];
        if (rest.Length < command.MinArgs || rest.Length > command.MaxArgs)
        {
            return Outcome.Usage($"{command.Name} takes '{command.Arguments}'");
        }

        if (command.Guarded && !SandboxGuard.IsInsideSandbox())
        {
            return Outcome.Refused;
        }

        try
        {
            return command.Run(rest);
        }
        catch (UsageException e)
        {
            return Outcome.Usage($"{command.Name}: {e.Message}");
        }
    }
}

/// <param name="Arguments">Space-separated placeholders; "[X]" is optional, "[X...]" takes the rest.</param>
/// <param name="Guarded">Refuse unless <see cref="SandboxGuard.IsInsideSandbox"/>.</param>
internal sealed record Command(string Name, string Arguments, bool Guarded, Func<string[], Outcome> Run)
{
    private string[] Placeholders => Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public int MinArgs => Placeholders.Count(p => !p.StartsWith('['));

    public int MaxArgs => Arguments.Contains("...", StringComparison.Ordinal) ? int.MaxValue : Placeholders.Length;
}

internal static class Parse
{
    private static readonly string[] SignalNames =
    [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM",
        "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF",
        "WINCH", "IO", "PWR", "SYS",
    ];

    public static int Int(string text, int min, int max) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
            ? value
            : throw new UsageException($"'{text}' is not an integer in [{min}, {max}]");

    public static uint UInt(string text) =>
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint value)
            ? value
            : throw new UsageException($"'{text}' is not an unsigned integer");

    public static ushort Port(string text) => (ushort)Int(text, 0, 65535);

    /// <summary>Octal, as chmod(1) takes it.</summary>
    public static int Mode(string text)
    {
        try
        {
            int mode = Convert.ToInt32(text, 8);
            return mode is >= 0 and <= 0xFFF ? mode : throw new UsageException($"'{text}' is not a mode");
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new UsageException($"'{text}' is not an octal mode");
        }
    }

    public static double Seconds(string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) && value <= 1e6
            ? value
            : throw new UsageException($"'{text}' is not a number of seconds");

    /// <summary>A number (0..64) or a name such as TERM or SIGTERM.</summary>
    public static int Signal(string text)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
        {
            return number <= 64 ? number : throw new UsageException($"'{text}' is not a signal");
        }

        string name = text.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? text[3..] : text;
        int index = Array.FindIndex(SignalNames, n => n.Equals(name, StringComparison.OrdinalIgnoreCase));
        return index >= 0 ? index + 1 : throw new UsageException($"'{text}' is not a signal");
    }
}
