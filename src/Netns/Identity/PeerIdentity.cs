using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Sandboxrun.Netns.Identity;

/// <summary>One process holding the peer socket: its pid (host view) and its executable.</summary>
public sealed record SocketHolder(int Pid, string ExePath, string Sha256, ImmutableArray<(string Path, string Sha256)> Ancestors);

/// <summary>Who opened a connection: every process holding the socket (an fd may be shared).</summary>
public sealed record Peer(SocketOwner Socket, ImmutableArray<SocketHolder> Holders);

/// <summary>
/// Socket inode -> the processes holding it (scanning /proc/PID/fd of the sandbox's processes)
/// -> /proc/PID/exe, read through the open file (a path replaced after exec does not fool it)
/// -> SHA-256, cached by (dev, inode, size, mtime, ctime).
/// </summary>
public sealed class PeerIdentity
{
    private readonly Func<IEnumerable<int>> _candidatePids;
    private readonly ConcurrentDictionary<(ulong Dev, ulong Ino, long Size, long Mtime, long Ctime), string> _hashes = new();

    /// <param name="candidatePids">The host pids that may hold agent sockets (the sandbox's processes).</param>
    public PeerIdentity(Func<IEnumerable<int>> candidatePids) => _candidatePids = candidatePids;

    /// <param name="withAncestors">Also each holder's ancestors (executables, parent first), which only <c>inherit</c> entries consult.</param>
    public Peer Resolve(SocketOwner socket, bool withAncestors = true)
    {
        byte[] link = System.Text.Encoding.ASCII.GetBytes($"socket:[{socket.Inode.ToString(CultureInfo.InvariantCulture)}]");
        var holders = ImmutableArray.CreateBuilder<SocketHolder>();
        HashSet<int> candidates = [.. _candidatePids()]; // one process walk per resolution
        foreach (int pid in candidates)
        {
            if (!HoldsSocket(pid, link))
                continue;
            if (Executable(pid) is (string path, string sha))
                holders.Add(new SocketHolder(pid, path, sha, withAncestors ? Ancestors(pid, candidates) : []));
        }
        return new Peer(socket, holders.ToImmutable());
    }

    /// <summary>Whether one of the process's fds is the socket: readlink of each /proc/PID/fd entry, no stat.</summary>
    private static bool HoldsSocket(int pid, ReadOnlySpan<byte> link)
    {
        string dir = string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/fd/");
        Span<byte> target = stackalloc byte[64];
        foreach (string fd in ProcFs.List(dir))
        {
            int n = ProcFs.ReadLink(dir + fd, target);
            if (n == link.Length && target[..n].SequenceEqual(link))
                return true;
        }
        return false;
    }

    /// <summary>The executable's path and SHA-256, hashed from the file the process runs.</summary>
    public (string Path, string Sha256)? Executable(int pid)
    {
        try
        {
            string exe = $"/proc/{pid}/exe";
            string path = new FileInfo(exe).LinkTarget ?? "";
            using SafeFileHandle file = File.OpenHandle(exe, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return Sha256(file) is string sha ? (path, sha) : null;
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

    /// <summary>The SHA-256 of an open file (an executable opened through /proc/PID/exe), or null when it cannot be read.</summary>
    public string? Sha256(SafeFileHandle file)
    {
        var key = FileKey(file);
        if (key is { } k && _hashes.TryGetValue(k, out string? cached))
            return cached;
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[64 * 1024];
            long offset = 0;
            for (int n; (n = RandomAccess.Read(file, buffer, offset)) > 0; offset += n)
                hash.AppendData(buffer, 0, n);
            string sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (key is { } k2)
                _hashes[k2] = sha;
            return sha;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The executables of a process's ancestors inside the sandbox, parent first (empty once the process is gone).</summary>
    public ImmutableArray<(string Path, string Sha256)> Ancestors(int pid) => Ancestors(pid, [.. _candidatePids()]);

    private ImmutableArray<(string Path, string Sha256)> Ancestors(int pid, HashSet<int> candidates)
    {
        var list = ImmutableArray.CreateBuilder<(string, string)>();
        for (int p = ProcFs.ParentOf(pid); p > 0 && candidates.Contains(p) && list.Count < 64; p = ProcFs.ParentOf(p))
        {
            if (Executable(p) is (string path, string sha))
                list.Add((path, sha));
        }
        return list.ToImmutable();
    }

    private static unsafe (ulong, ulong, long, long, long)? FileKey(SafeFileHandle handle)
    {
        byte* st = stackalloc byte[144]; // struct stat, x86_64
        if (Interop.SockDiag.Fstat((int)handle.DangerousGetHandle(), st) != 0)
            return null;
        // st_dev 0, st_ino 8, st_size 48, st_mtim 88, st_ctim 104 (seconds; nanoseconds follow)
        long mtime = (*(long*)(st + 88) * 1_000_000_000) + *(long*)(st + 96);
        long ctime = (*(long*)(st + 104) * 1_000_000_000) + *(long*)(st + 112);
        return (*(ulong*)st, *(ulong*)(st + 8), *(long*)(st + 48), mtime, ctime);
    }
}
