using System.Collections;
using System.Collections.Immutable;
using Sandboxrun.Plan;

namespace Sandboxrun.Host;

/// <summary>Reads the facts about this host the planner needs (the only I/O before the plan).</summary>
internal static class HostProbe
{
    public static HostFacts Gather()
    {
        uint uid = Interop.Interop.Files.GetUid();
        uint gid = Interop.Interop.Files.GetGid();
        string passwd = ReadOrEmpty("/etc/passwd");
        string group = ReadOrEmpty("/etc/group");

        var env = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            env[(string)e.Key] = (string?)e.Value ?? "";

        string? name = null, home = null;
        foreach (string line in passwd.Split('\n'))
        {
            string[] f = line.Split(':');
            if (f.Length >= 7 && f[2] == uid.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                (name, home) = (f[0], f[5]);
                break;
            }
        }
        name ??= env.GetValueOrDefault("USER") ?? uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        home ??= env.GetValueOrDefault("HOME");

        var homes = new SortedSet<string>(StringComparer.Ordinal) { "/root" };
        if (home is { Length: > 1 })
            homes.Add(home.TrimEnd('/'));
        try
        {
            foreach (string dir in Directory.EnumerateDirectories("/home"))
                homes.Add(dir);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }

        (uint, uint)? sandbox = null;
        if (Planner.PasswdLookup(passwd, "sandbox") is (uint suid, _))
            sandbox = (suid, Planner.GroupLookup(group, "sandbox") ?? suid);

        return new HostFacts(uid, gid, name, home, [.. homes], passwd, group, env.ToImmutable(), PathKind, Owner, LinkTarget, sandbox, LandlockAbi(env),
            SeccompUserNotif: Seccomp.SeccompSupport.Available(Seccomp.Bpf.RetUserNotif));
    }

    /// <summary>
    /// The kernel's Landlock ABI, or a lower one named by SANDBOXRUN_LANDLOCK_ABI (to see how a
    /// policy fares on an older kernel; it can only lower the level, and every right that is
    /// lost is then reported, or refused under hard_requirement).
    /// </summary>
    private static int LandlockAbi(ImmutableDictionary<string, string>.Builder env)
    {
        int abi = Landlock.LandlockSupport.Probe().Abi;
        if (env.TryGetValue("SANDBOXRUN_LANDLOCK_ABI", out string? cap)
            && int.TryParse(cap, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int max))
            abi = Math.Min(abi, max);
        return abi;
    }

    public static HostPathKind PathKind(string path)
    {
        try
        {
            if (Directory.Exists(path))
                return HostPathKind.Directory;
            if (File.Exists(path))
                return HostPathKind.File;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return HostPathKind.Missing;
    }

    public static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static (uint Uid, uint Gid)? Owner(string path)
    {
        unsafe
        {
            Tmds.Linux.stat st;
            fixed (byte* p = System.Text.Encoding.UTF8.GetBytes(path + "\0"))
                return Tmds.Linux.LibC.stat(p, &st) == 0 ? ((uint)st.st_uid, (uint)st.st_gid) : null;
        }
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
    }
}
