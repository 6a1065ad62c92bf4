using System.Collections.Frozen;
using System.Collections.Immutable;

namespace Sandboxrun.Seccomp;

/// <summary>The syscall names and numbers of one architecture's native ABI.</summary>
public sealed partial class SyscallTable
{
    private readonly FrozenDictionary<string, uint> _byName;
    private readonly string?[] _byNumber;

    private SyscallTable(string architecture, (string Name, uint Number)[] entries)
    {
        Architecture = architecture;
        Entries = [.. entries.OrderBy(e => e.Number)];
        _byName = entries.ToFrozenDictionary(e => e.Name, e => e.Number, StringComparer.Ordinal);
        _byNumber = new string?[entries.Max(e => e.Number) + 1];
        foreach ((string name, uint number) in entries)
        {
            if (_byNumber[number] is not null)
                throw new InvalidOperationException($"{architecture}: syscall number {number} listed twice");
            _byNumber[number] = name;
        }
    }

    public string Architecture { get; }

    /// <summary>Every (name, number), ordered by number.</summary>
    public ImmutableArray<(string Name, uint Number)> Entries { get; }

    public int Count => _byName.Count;

    public uint? Number(string name) => _byName.TryGetValue(name, out uint number) ? number : null;

    public string? Name(uint number) => number < _byNumber.Length ? _byNumber[number] : null;

    /// <summary>The number of a name this code base relies on being in the table.</summary>
    public uint this[string name] => Number(name) ?? throw new KeyNotFoundException($"{Architecture}: no syscall named {name}");

    /// <summary>
    /// Names close to <paramref name="name"/> for a "did you mean" hint: the nearest by
    /// optimal-string-alignment distance (typos, swapped letters, case), within a third of the
    /// name's length, at most <paramref name="max"/> of them; failing that, names that contain the
    /// unknown text as a whole '_'-separated part ("uring" in io_uring_setup).
    /// </summary>
    public ImmutableArray<string> Suggest(string name, int max = 3)
    {
        string lower = name.ToLowerInvariant();
        int limit = Math.Max(1, lower.Length / 3);
        var scored = new List<(int Distance, string Name)>();
        foreach (string candidate in _byName.Keys)
        {
            int d = Distance(lower, candidate, limit);
            if (d <= limit)
                scored.Add((d, candidate));
            else if (lower.Length >= 4 && candidate.Split('_').Contains(lower))
                scored.Add((limit + 1, candidate));
        }
        if (scored.Count == 0)
            return [];
        int best = scored.Min(s => s.Distance);
        return [.. scored.Where(s => s.Distance == best).OrderBy(s => s.Name, StringComparer.Ordinal).Take(max).Select(s => s.Name)];
    }

    /// <summary>Optimal string alignment distance (insert, delete, substitute, swap adjacent), or more than
    /// <paramref name="limit"/> once it cannot come back under it.</summary>
    internal static int Distance(string a, string b, int limit)
    {
        if (Math.Abs(a.Length - b.Length) > limit)
            return limit + 1;
        var rows = new int[3][];
        for (int r = 0; r < 3; r++)
            rows[r] = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
            rows[1][j] = j;
        int[] previous2 = rows[0], previous = rows[1], current = rows[2];
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            int rowMin = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                int d = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d = Math.Min(d, previous2[j - 2] + 1);
                current[j] = d;
                rowMin = Math.Min(rowMin, d);
            }
            if (rowMin > limit)
                return limit + 1;
            (previous2, previous, current) = (previous, current, previous2);
        }
        return previous[b.Length];
    }
}

/// <summary>
/// An architecture the compiler can target: the AUDIT_ARCH_* value the kernel puts in
/// seccomp_data.arch for its native calls, its syscall table, and whether the same entry point
/// also serves the x32 ABI (x86_64 only: nr has <see cref="Bpf.X32SyscallBit"/> set and the
/// numbers mean different calls, so a filter keyed on native numbers must refuse them all).
/// Arguments are read as two 32-bit halves at little-endian offsets; a big-endian target would
/// need its own offsets.
/// </summary>
public sealed record Architecture(string Name, uint AuditArch, SyscallTable Syscalls, bool HasX32Abi)
{
    public static Architecture X86_64 { get; } = new("x86_64", Bpf.AuditArchX86_64, SyscallTable.X86_64, HasX32Abi: true);

    /// <summary>The architecture of this process, or null when there is no table for it yet (aarch64).</summary>
    public static Architecture? Current => System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => X86_64,
        _ => null,
    };
}
