using System.Globalization;

namespace Sandboxrun.Netns.Identity;

/// <summary>
/// The host pids of the processes in a sandbox: its init and every descendant, read from
/// /proc/PID/task/TID/children. Every process of the sandbox's pid namespace descends from its
/// init (orphans are reparented to it, and setns into the namespace is refused by seccomp), and
/// the children files are readable without ptrace access, which matters in rootless mode: init's
/// memory map still belongs to the host's user namespace (it never execs), so its
/// /proc/PID/ns links are closed to an unprivileged supervisor. Cheaper than scanning all of /proc.
/// </summary>
public static class SandboxProcesses
{
    public static IEnumerable<int> Of(int init)
    {
        string first = string.Create(CultureInfo.InvariantCulture, $"/proc/{init}/task/{init}/children");
        if (!File.Exists(first))
            return ByNamespace(init); // kernels built without CONFIG_PROC_CHILDREN
        var found = new List<int> { init };
        Span<byte> children = stackalloc byte[4096];
        for (int i = 0; i < found.Count; i++)
        {
            string tasks = string.Create(CultureInfo.InvariantCulture, $"/proc/{found[i]}/task/");
            foreach (string task in ProcFs.List(tasks))
            {
                string path = tasks + task + "/children";
                int n = ProcFs.ReadSmall(path, children);
                // A full buffer may hold only part of the list: a missed holder must never be possible.
                ReadOnlySpan<byte> list = n == children.Length ? ReadAll(path) : n > 0 ? children[..n] : [];
                for (ReadOnlySpan<byte> rest = list; !rest.IsEmpty;)
                {
                    int space = rest.IndexOf((byte)' ');
                    ReadOnlySpan<byte> pid = space < 0 ? rest : rest[..space];
                    if (int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out int c))
                        found.Add(c);
                    rest = space < 0 ? [] : rest[(space + 1)..];
                }
            }
        }
        return found;
    }

    private static byte[] ReadAll(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static IEnumerable<int> ByNamespace(int init)
    {
        string? ns = new FileInfo($"/proc/{init}/ns/pid").LinkTarget;
        if (ns is null)
            yield break;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                continue;
            string? other;
            try
            {
                other = new FileInfo($"{dir}/ns/pid").LinkTarget;
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            if (other == ns)
                yield return pid;
        }
    }
}
