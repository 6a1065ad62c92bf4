using System.Runtime.InteropServices;

namespace Sandboxrun.Probe;

/// <summary>Rename, link and truncate probes (Landlock's REFER and TRUNCATE rights). All guarded.</summary>
internal static partial class LinkCommands
{
    public static Outcome Rename(string from, string to) => Outcome.FromCall(Interop.Retry(() => Native.Rename(from, to)));

    public static Outcome HardLink(string target, string link) => Outcome.FromCall(Interop.Retry(() => Native.Link(target, link)));

    public static Outcome SymLink(string target, string link) => Outcome.FromCall(Interop.Retry(() => Native.Symlink(target, link)));

    /// <summary>truncate(2) by path, to length 0.</summary>
    public static Outcome Truncate(string path) => Outcome.FromCall(Interop.Retry(() => Native.Truncate(path, 0)));

    private static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Rename(string from, string to);

        [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Link(string target, string link);

        [LibraryImport("libc", EntryPoint = "symlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Symlink(string target, string link);

        [LibraryImport("libc", EntryPoint = "truncate", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Truncate(string path, long length);
    }
}
