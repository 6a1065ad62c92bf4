using System.Globalization;
using System.Text;

namespace Sandboxrun.Probe;

/// <summary>Read-only observations; none of them needs the sandbox guard.</summary>
internal static unsafe class InfoCommands
{
    private static readonly string[] CapSets = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];
    private static readonly string[] NamespaceKinds = ["mnt", "pid", "net", "user", "uts", "ipc", "cgroup"];

    public static Outcome Id()
    {
        int count = Interop.Proc.GetGroups(0, null);
        if (count == -1)
        {
            return Outcome.LastError("getgroups");
        }

        uint[] groups = new uint[count];
        fixed (uint* list = groups)
        {
            count = Interop.Proc.GetGroups(groups.Length, list);
        }

        if (count == -1)
        {
            return Outcome.LastError("getgroups");
        }

        Out.Line(FormattableString.Invariant(
            $"uid={Interop.Proc.GetUid()} gid={Interop.Proc.GetGid()} euid={Interop.Proc.GetEuid()} egid={Interop.Proc.GetEgid()} groups={string.Join(',', groups[..count])}"));
        return Outcome.Ok();
    }

    /// <summary>proc(5): /proc/PID/status carries the five capability sets as hex masks.</summary>
    public static Outcome Caps()
    {
        string? status = Native.ReadText("/proc/self/status", out Errno errno);
        if (status is null)
        {
            return Outcome.Fail(errno, "/proc/self/status");
        }

        var nonZero = new List<string>();
        var seen = new HashSet<string>();
        foreach (string line in status.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }

            string key = line[..colon];
            string value = line[(colon + 1)..].Trim();
            if (Array.IndexOf(CapSets, key) >= 0)
            {
                Out.Line($"{key}: {value}");
                seen.Add(key);
                if (!ulong.TryParse(value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong mask) || mask != 0)
                {
                    nonZero.Add(key);
                }
            }
            else if (key is "NoNewPrivs" or "Seccomp" or "Seccomp_filters")
            {
                Out.Line($"{key}: {value}");
            }
        }

        nonZero.AddRange(CapSets.Where(c => !seen.Contains(c)));
        return nonZero.Count == 0 ? Outcome.Ok() : Outcome.Fail("CAPS", string.Join(',', nonZero));
    }

    public static Outcome NoNewPrivs()
    {
        int value = Interop.Proc.Prctl(Interop.Proc.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        return value switch
        {
            -1 => Outcome.LastError("prctl"),
            1 => Outcome.Ok("NoNewPrivs=1"),
            _ => Outcome.Fail("NNP", FormattableString.Invariant($"NoNewPrivs={value}")),
        };
    }

    public static Outcome Namespaces()
    {
        foreach (string kind in NamespaceKinds)
        {
            string? link = Native.ReadLink($"/proc/self/ns/{kind}", out Errno errno);
            Out.Line(link ?? $"{kind}:? {errno.Name()}");
        }

        return Outcome.Ok();
    }

    public static Outcome Pids()
    {
        List<string>? names = Native.ListDirectory("/proc", out Errno errno, out _);
        if (names is null)
        {
            return Outcome.Fail(errno, "/proc");
        }

        List<int> pids = [.. Native.NumericEntries(names).Order()];
        Out.Line(string.Join(' ', pids));
        return Outcome.Ok(pids.Count.ToString(CultureInfo.InvariantCulture));
    }

    public static Outcome Env()
    {
        foreach (string entry in Native.EnvironmentBlock())
        {
            Out.Line(entry);
        }

        return Outcome.Ok();
    }

    /// <summary>Lists /proc/self/fd without the descriptor opendir used for the listing itself.
    /// With <paramref name="check"/>, any descriptor above 2 is an error (a leak from the runtime).</summary>
    public static Outcome Fds(bool check)
    {
        List<string>? names = Native.ListDirectory("/proc/self/fd", out Errno errno, out int listingFd);
        if (names is null)
        {
            return Outcome.Fail(errno, "/proc/self/fd");
        }

        List<int> fds = [.. Native.NumericEntries(names).Where(fd => fd != listingFd).Order()];
        foreach (int fd in fds)
        {
            string? target = Native.ReadLink(FormattableString.Invariant($"/proc/self/fd/{fd}"), out Errno linkErrno);
            Out.Line(FormattableString.Invariant($"{fd} -> {target ?? linkErrno.Name()}"));
        }

        if (!check)
        {
            return Outcome.Ok(fds.Count.ToString(CultureInfo.InvariantCulture));
        }

        string? cwd = Native.ReadLink("/proc/self/cwd", out Errno cwdErrno);
        Out.Line($"cwd -> {cwd ?? cwdErrno.Name()}");
        List<int> extra = fds.Where(fd => fd > 2).ToList();
        return extra.Count == 0 ? Outcome.Ok() : Outcome.Fail("EXTRAFD", string.Join(',', extra));
    }

    public static Outcome List(string path)
    {
        List<string>? names = Native.ListDirectory(path, out Errno errno, out _);
        if (names is null)
        {
            return Outcome.Fail(errno);
        }

        names.Sort(StringComparer.Ordinal);
        foreach (string name in names)
        {
            Out.Line(name);
        }

        return Outcome.Ok(names.Count.ToString(CultureInfo.InvariantCulture));
    }

    public static Outcome Stat(string path)
    {
        Interop.Fs.Stat buffer;
        Interop.Fs.Stat* result = &buffer;
        if (Interop.Retry(() => Interop.Fs.StatPath(path, result)) == -1)
        {
            return Outcome.LastError();
        }

        Out.Line(FormattableString.Invariant(
            $"mode={Convert.ToString(buffer.Mode, 8)} uid={buffer.Uid} gid={buffer.Gid} size={buffer.Size}"));
        return Outcome.Ok();
    }

    public static Outcome Hostname()
    {
        byte* name = stackalloc byte[257];
        if (Interop.Proc.GetHostName(name, 256) == -1)
        {
            return Outcome.LastError();
        }

        name[256] = 0;
        Out.Line(new string((sbyte*)name, 0, IndexOfNul(name, 256), Encoding.UTF8));
        return Outcome.Ok();
    }

    public static Outcome Cwd()
    {
        byte* buffer = stackalloc byte[4097];
        if (Interop.Fs.GetCwd(buffer, 4096) == 0)
        {
            return Outcome.LastError();
        }

        Out.Line(new string((sbyte*)buffer, 0, IndexOfNul(buffer, 4096), Encoding.UTF8));
        return Outcome.Ok();
    }

    /// <summary>proc(5): /proc/PID/stat is "pid (comm) state ppid ..."; comm may hold spaces and
    /// parentheses, so the state follows the last ')'.</summary>
    public static Outcome Zombies()
    {
        List<string>? names = Native.ListDirectory("/proc", out Errno errno, out _);
        if (names is null)
        {
            return Outcome.Fail(errno, "/proc");
        }

        int count = 0;
        foreach (int pid in Native.NumericEntries(names).Order())
        {
            string? stat = Native.ReadText(FormattableString.Invariant($"/proc/{pid}/stat"), out _);
            int close = stat?.LastIndexOf(')') ?? -1;
            if (stat is null || close < 0 || close + 2 >= stat.Length || stat[close + 2] != 'Z')
            {
                continue; // gone meanwhile, or not a zombie
            }

            string[] fields = stat[(close + 2)..].Split(' ');
            int open = stat.IndexOf('(', StringComparison.Ordinal);
            string comm = open >= 0 ? stat[(open + 1)..close] : "?";
            Out.Line(FormattableString.Invariant($"{pid} ppid={(fields.Length > 1 ? fields[1] : "?")} comm={comm}"));
            count++;
        }

        return Outcome.Ok(count.ToString(CultureInfo.InvariantCulture));
    }

    private static int IndexOfNul(byte* text, int max)
    {
        int length = 0;
        while (length < max && text[length] != 0)
        {
            length++;
        }

        return length;
    }
}
