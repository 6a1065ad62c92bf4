using System.Globalization;
using System.Text;

namespace Sandboxrun.Probe;

/// <summary>File system and mount probes. Everything except <see cref="Read"/> is guarded.</summary>
internal static unsafe class FsCommands
{
    private const nuint TIOCSTI = 0x5412;
    private static readonly byte[] Payload = "probe\n"u8.ToArray();

    public static Outcome Read(string path)
    {
        int fd = Interop.Retry(() => Interop.Fs.Open(path, Interop.Fs.O_RDONLY | Interop.Fs.O_CLOEXEC, 0));
        if (fd == -1)
        {
            return Outcome.LastError("open");
        }

        byte* buffer = stackalloc byte[64];
        nint count = Interop.Retry(() => Interop.Fs.Read(fd, buffer, 64));
        Outcome outcome = count == -1 ? Outcome.LastError("read") : Outcome.Ok(count.ToString(CultureInfo.InvariantCulture));
        Interop.Fs.Close(fd);
        return outcome;
    }

    public static Outcome Write(string path) =>
        OpenAndWrite(path, Interop.Fs.O_WRONLY | Interop.Fs.O_CREAT | Interop.Fs.O_TRUNC | Interop.Fs.O_CLOEXEC);

    public static Outcome Append(string path) =>
        OpenAndWrite(path, Interop.Fs.O_WRONLY | Interop.Fs.O_APPEND | Interop.Fs.O_CLOEXEC);

    public static Outcome Delete(string path) => Outcome.FromCall(Interop.Retry(() => Interop.Fs.Unlink(path)));

    public static Outcome Mkdir(string path) => Outcome.FromCall(Interop.Retry(() => Interop.Fs.Mkdir(path, 0x1ED /* 0755 */)));

    public static Outcome Chmod(int mode, string path) => Outcome.FromCall(Interop.Retry(() => Interop.Fs.Chmod(path, mode)));

    public static Outcome MountTmpfs(string path) =>
        Outcome.FromCall(Interop.Retry(() => Interop.Fs.Mount("tmpfs", path, "tmpfs", 0, 0)));

    /// <summary>MNT_DETACH so a busy mount point still answers whether unmounting is permitted at all.</summary>
    public static Outcome Umount(string path) =>
        Outcome.FromCall(Interop.Retry(() => Interop.Fs.Umount2(path, Interop.Fs.MNT_DETACH)));

    /// <summary>tty_ioctl(4): TIOCSTI pushes one byte into the terminal's input queue.</summary>
    public static Outcome Tiocsti(int fd, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        for (int i = 0; i < bytes.Length; i++)
        {
            byte value = bytes[i];
            byte* argument = &value;
            if (Interop.Retry(() => Interop.Fs.Ioctl(fd, TIOCSTI, argument)) == -1)
            {
                return Outcome.LastError(FormattableString.Invariant($"byte {i}"));
            }
        }

        return Outcome.Ok(bytes.Length.ToString(CultureInfo.InvariantCulture));
    }

    private static Outcome OpenAndWrite(string path, int flags)
    {
        int fd = Interop.Retry(() => Interop.Fs.Open(path, flags, 0x1A4 /* 0644 */));
        if (fd == -1)
        {
            return Outcome.LastError("open");
        }

        nint written;
        fixed (byte* pinned = Payload)
        {
            byte* start = pinned;
            written = Interop.Retry(() => Interop.Fs.Write(fd, start, Payload.Length));
        }

        Outcome outcome = written == -1 ? Outcome.LastError("write") : Outcome.Ok();
        if (Interop.Fs.Close(fd) == -1 && written != -1)
        {
            outcome = Outcome.LastError("close"); // NFS/FUSE may report write errors only at close
        }

        return outcome;
    }
}
