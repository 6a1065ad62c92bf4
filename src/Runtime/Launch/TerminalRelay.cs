using Sandboxrun.Interop;

namespace Sandboxrun.Launch;

/// <summary>
/// With a terminal on stdin the agent gets its own pty: TIOCSTI and job-control tricks then
/// reach only that pty, never the user's shell. sandboxrun puts the user's terminal in raw
/// mode, relays bytes both ways and the window size, and restores the terminal at the end.
/// </summary>
internal sealed class TerminalRelay : IDisposable
{
    private readonly int _master;
    private readonly byte[]? _saved;
    private readonly Thread _output;

    public int Slave { get; private set; }

    /// <summary>The slave's host path (/dev/pts/N).</summary>
    public string SlavePath { get; }

    private TerminalRelay(int master, int slave, byte[]? saved)
    {
        (_master, Slave, _saved) = (master, slave, saved);
        SlavePath = new FileInfo($"/proc/self/fd/{slave}").LinkTarget ?? throw new SandboxSetupException("pty", (int)Errno.ENOENT, "resolving the pty's path");
        _output = new Thread(() => Pump(_master, 1)) { IsBackground = true, Name = "pty-output" };
    }

    /// <summary>A relay when stdin is a terminal, else null (plain pipes).</summary>
    public static TerminalRelay? OpenIfTerminal()
    {
        if (!Interop.Interop.Files.IsTerminal(0))
            return null;
        (int master, int slave) = Interop.Interop.Terminal.OpenPty();
        byte[]? saved = Interop.Interop.Terminal.GetAttributes(0);
        if (saved is not null)
            Interop.Interop.Terminal.SetAttributes(slave, saved);
        Interop.Interop.Terminal.CopyWindowSize(0, master);
        return new TerminalRelay(master, slave, saved);
    }

    /// <summary>Called once the agent runs: raw mode on the user's terminal, start relaying.</summary>
    public void Start()
    {
        // The agent holds its own copy of the slave now; ours must go, or EOF never comes.
        Interop.Interop.Files.Close(Slave);
        Slave = -1;
        if (_saved is not null)
            Interop.Interop.Terminal.SetAttributes(0, Interop.Interop.Terminal.MakeRaw(_saved));
        _output.Start();
        new Thread(() => Pump(0, _master)) { IsBackground = true, Name = "pty-input" }.Start();
    }

    public void ResizeFromUser() => Interop.Interop.Terminal.CopyWindowSize(0, _master);

    private static void Pump(int from, int to)
    {
        Span<byte> buf = stackalloc byte[16384];
        while (true)
        {
            int n = Interop.Interop.Files.ReadSome(from, buf);
            if (n <= 0 || Interop.Interop.Files.WriteAll(to, buf[..n]) != 0)
                return;
        }
    }

    public void Dispose()
    {
        if (_output.IsAlive)
            _output.Join(TimeSpan.FromSeconds(2)); // drain what the agent wrote last (EIO ends it)
        if (_saved is not null)
            Interop.Interop.Terminal.SetAttributes(0, _saved);
        Interop.Interop.Files.Close(Slave);
        Interop.Interop.Files.Close(_master);
    }
}
