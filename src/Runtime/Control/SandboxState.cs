using System.Net.Sockets;
using Sandboxrun.Interop;

namespace Sandboxrun.Control;

/// <summary>
/// Where running sandboxes keep their state: root uses /run/sandboxrun; other users
/// $XDG_RUNTIME_DIR/sandboxrun, or /tmp/sandboxrun-UID without it. Every directory is the
/// owner's alone (0700, checked to be a real directory the caller owns, not a link someone
/// planted), so the control socket and the audit log inside are reachable by nobody else.
/// </summary>
internal static class RuntimeDirectory
{
    public static string Base()
    {
        uint uid = Interop.Interop.Files.GetEuid();
        if (uid == 0)
            return "/run/sandboxrun";
        // Only a runtime directory of the caller's own (an inherited XDG_RUNTIME_DIR may be another user's).
        string? xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        return !string.IsNullOrEmpty(xdg) && Path.IsPathFullyQualified(xdg) && Interop.Interop.Files.LStat(xdg) is { IsDirectory: true } st && st.Uid == uid
            ? Path.Combine(xdg, "sandboxrun")
            : $"/tmp/sandboxrun-{uid.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
    }

    /// <summary>The state directory of the sandbox named <paramref name="name"/> (which may not exist).</summary>
    public static string Of(string name) => Path.Combine(Base(), name);

    /// <summary>Creates the base directory if needed and checks it is private to the caller.</summary>
    public static string EnsureBase()
    {
        string dir = Base();
        if (!Directory.Exists(dir))
        {
            try
            {
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (IOException) when (Directory.Exists(dir))
            {
                // created by a sandbox starting at the same moment
            }
        }
        CheckPrivate(dir);
        return dir;
    }

    /// <summary>A directory, not a link, owned by the caller, writable by no one else.</summary>
    public static void CheckPrivate(string dir)
    {
        if (Interop.Interop.Files.LStat(dir) is not { } st || !st.IsDirectory)
            throw new SandboxStateException($"state directory {dir}: not a directory (or a symbolic link)");
        uint uid = Interop.Interop.Files.GetEuid();
        if (st.Uid != uid)
            throw new SandboxStateException($"state directory {dir}: owned by uid {st.Uid}, not by uid {uid}");
        if ((st.Mode & 0x3F) != 0) // group or other bits
            throw new SandboxStateException($"state directory {dir}: mode {Convert.ToString(st.Mode & 0xFFF, 8)} lets other users in (expected 0700)");
    }

    /// <summary>The names of sandboxes with a state directory, live or stale.</summary>
    public static IEnumerable<string> Names()
    {
        string dir = Base();
        if (!Directory.Exists(dir))
            return [];
        return Directory.EnumerateDirectories(dir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);
    }
}

/// <summary>
/// The state directory of one running sandbox: control.sock and audit.jsonl. Created at start
/// (a directory left by a sandbox that was killed is taken over; one whose control socket still
/// answers is a sandbox running under that name, and the new one refuses to start), removed at exit.
/// </summary>
internal sealed class SandboxState : IDisposable
{
    private SandboxState(string directory) => Directory = directory;

    public string Directory { get; }

    public string ControlPath => ControlPathOf(Directory);

    public string AuditPath => AuditPathOf(Directory);

    public static string ControlPathOf(string directory) => Path.Combine(directory, "control.sock");

    public static string AuditPathOf(string directory) => Path.Combine(directory, "audit.jsonl");

    public static SandboxState Create(string name)
    {
        string dir = Path.Combine(RuntimeDirectory.EnsureBase(), name);
        var private0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (System.IO.Directory.Exists(dir) || File.Exists(dir))
        {
            if (IsLive(ControlPathOf(dir)))
                throw new SandboxStateException($"a sandbox named '{name}' is already running (state in {dir}); choose another --name");
            RemoveStale(dir);
        }
        try
        {
            System.IO.Directory.CreateDirectory(dir, private0700);
        }
        catch (IOException e)
        {
            throw new SandboxStateException($"state directory {dir}: {e.Message}");
        }
        RuntimeDirectory.CheckPrivate(dir);
        return new SandboxState(dir);
    }

    /// <summary>Something accepts on the control socket: a sandbox is running there.</summary>
    public static bool IsLive(string controlPath)
    {
        if (!File.Exists(controlPath))
            return false;
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(controlPath));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Removes the directory of a sandbox that is gone: nothing answers on its control socket,
    /// and it is older than a starting sandbox could be (one between creating its directory and
    /// listening would otherwise look dead for a moment).
    /// </summary>
    public static void RemoveIfStale(string name)
    {
        string dir = RuntimeDirectory.Of(name);
        try
        {
            if (DateTime.UtcNow - System.IO.Directory.GetLastWriteTimeUtc(dir) < TimeSpan.FromSeconds(10) || IsLive(ControlPathOf(dir)))
                return;
            RemoveStale(dir);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void RemoveStale(string dir)
    {
        if (Interop.Interop.Files.LStat(dir) is { IsDirectory: true })
        {
            foreach (string entry in System.IO.Directory.EnumerateFileSystemEntries(dir))
                File.Delete(entry);
            System.IO.Directory.Delete(dir);
        }
        else
        {
            File.Delete(dir);
        }
    }

    public void Dispose()
    {
        try
        {
            RemoveStale(Directory);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>The state directory could not be made or used (exit 125; the message names the path).</summary>
internal sealed class SandboxStateException(string message) : Exception(message);
