using System.Collections.Immutable;
using System.Globalization;
using Sandboxrun.Landlock;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Host;

/// <summary>What the running kernel offers the sandbox, probed without side effects.</summary>
internal sealed record KernelFeatures(
    string KernelRelease,
    int MaxUserNamespaces,
    LandlockSupport Landlock,
    ImmutableArray<(string Name, bool Available)> SeccompActions,
    string Cgroups,
    bool Clone3AndPidfd,
    bool MountSetattr)
{
    public static KernelFeatures Probe()
    {
        string release = Read("/proc/sys/kernel/osrelease") ?? "unknown";
        int maxUserNs = int.TryParse(Read("/proc/sys/user/max_user_namespaces"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1;
        string cgroups = File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "v2"
            : Directory.Exists("/sys/fs/cgroup/unified") ? "v1 (hybrid, v2 at /sys/fs/cgroup/unified)"
            : Directory.Exists("/sys/fs/cgroup") ? "v1" : "none";
        (int major, int minor) = ParseRelease(release);
        return new KernelFeatures(release, maxUserNs, LandlockSupport.Probe(), SeccompSupport.Probe(), cgroups,
            Clone3AndPidfd: (major, minor).CompareTo((5, 3)) >= 0,
            MountSetattr: (major, minor).CompareTo((5, 12)) >= 0);
    }

    internal static (int, int) ParseRelease(string release)
    {
        string[] parts = release.Split('.', '-');
        return parts.Length >= 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int major)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int minor)
            ? (major, minor) : (0, 0);
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
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
}
