using System.Collections;
using System.Runtime.InteropServices;
using System.Text;

namespace Sandboxrun.Probe;

/// <summary>Managed-shaped wrappers over the raw calls in <see cref="Interop"/>; failures come back as errno.</summary>
internal static unsafe class Native
{
    public static string? ReadLink(string path, out Errno errno)
    {
        byte* buffer = stackalloc byte[4096];
        nint length = Interop.Fs.ReadLink(path, buffer, 4096);
        errno = length == -1 ? Interop.LastErrno : Errno.None;
        return length == -1 ? null : Encoding.UTF8.GetString(buffer, (int)length);
    }

    public static string? ReadText(string path, out Errno errno)
    {
        int fd = Interop.Retry(() => Interop.Fs.Open(path, Interop.Fs.O_RDONLY | Interop.Fs.O_CLOEXEC, 0));
        if (fd == -1)
        {
            errno = Interop.LastErrno;
            return null;
        }

        try
        {
            var content = new MemoryStream();
            byte[] chunk = new byte[4096];
            fixed (byte* pinned = chunk)
            {
                byte* start = pinned;
                while (true)
                {
                    nint count = Interop.Retry(() => Interop.Fs.Read(fd, start, chunk.Length));
                    if (count == -1)
                    {
                        errno = Interop.LastErrno;
                        return null;
                    }

                    if (count == 0)
                    {
                        break;
                    }

                    content.Write(chunk, 0, (int)count);
                }
            }

            errno = Errno.None;
            return Encoding.UTF8.GetString(content.GetBuffer(), 0, (int)content.Length);
        }
        finally
        {
            Interop.Fs.Close(fd);
        }
    }

    /// <summary>Entry names except "." and "..", in directory order. <paramref name="dirFd"/> is the
    /// descriptor the listing itself used (closed again on return).</summary>
    public static List<string>? ListDirectory(string path, out Errno errno, out int dirFd)
    {
        dirFd = -1;
        nint dir = Interop.Fs.OpenDir(path); // NULL, not -1, on failure
        if (dir == 0)
        {
            errno = Interop.LastErrno;
            return null;
        }

        try
        {
            dirFd = Interop.Fs.DirFd(dir);
            var names = new List<string>();
            while (true)
            {
                // readdir(3): NULL with errno unchanged at the end; the marshaller zeroes errno first.
                nint entry = Interop.Fs.ReadDir(dir);
                if (entry == 0)
                {
                    errno = Interop.LastErrno;
                    return errno == Errno.None ? names : null;
                }

                string name = Marshal.PtrToStringUTF8(entry + 19) ?? "";
                if (name is not ("." or ".."))
                {
                    names.Add(name);
                }
            }
        }
        finally
        {
            Interop.Fs.CloseDir(dir);
        }
    }

    public static IEnumerable<int> NumericEntries(IEnumerable<string> names)
    {
        foreach (string name in names)
        {
            if (int.TryParse(name, System.Globalization.NumberStyles.None, null, out int value))
            {
                yield return value;
            }
        }
    }

    public static string[] EnvironmentBlock()
    {
        var entries = new List<string>();
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            entries.Add($"{entry.Key}={entry.Value}");
        }

        entries.Sort(StringComparer.Ordinal);
        return [.. entries];
    }
}

/// <summary>A NULL-terminated char*[] in unmanaged memory, for execve and posix_spawn.</summary>
internal sealed class NativeStringArray : IDisposable
{
    private readonly nint[] _strings;

    public NativeStringArray(IReadOnlyList<string> values)
    {
        _strings = new nint[values.Count];
        Pointer = Marshal.AllocHGlobal(nint.Size * (values.Count + 1));
        for (int i = 0; i < values.Count; i++)
        {
            _strings[i] = Marshal.StringToCoTaskMemUTF8(values[i]);
            Marshal.WriteIntPtr(Pointer, i * nint.Size, _strings[i]);
        }

        Marshal.WriteIntPtr(Pointer, values.Count * nint.Size, 0);
    }

    public nint Pointer { get; }

    public void Dispose()
    {
        foreach (nint value in _strings)
        {
            Marshal.FreeCoTaskMem(value);
        }

        Marshal.FreeHGlobal(Pointer);
    }
}
