using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Bench;

/// <summary>Compile time of the seccomp compiler: the default profile and a 400-rule profile.</summary>
[MemoryDiagnoser]
public class SeccompBenchmarks
{
    private readonly List<SeccompRule> _fourHundred = SeccompBenchProfiles.FourHundred();
    private readonly List<SeccompRule> _defaultRules = [.. DefaultFilter.Rules(SeccompAction.Errno(1))];

    [Benchmark(Baseline = true)]
    public CompiledFilter DefaultProfile() => DefaultFilter.Build();

    [Benchmark]
    public CompileResult DefaultProfileRulesOnly() => FilterCompiler.Compile(_defaultRules, SeccompAction.Allow, Architecture.X86_64);

    [Benchmark]
    public CompileResult FourHundredRules() => FilterCompiler.Compile(_fourHundred, SeccompAction.Allow, Architecture.X86_64);

    [Benchmark]
    public CompileResult FourHundredRulesUnoptimised() =>
        FilterCompiler.Compile(_fourHundred, SeccompAction.Allow, Architecture.X86_64, new CompileOptions(Optimize: false));
}

/// <summary>
/// Rule sets that both this compiler and libseccomp can express, for bench/seccomp.sh. libseccomp
/// takes one comparison per argument per rule and no rule whose action is the default action, so
/// its rules are an unordered OR of deny rules; ours are ordered with first match winning. The
/// sets below only use deny rules whose overlaps agree, where both readings are the same filter.
/// </summary>
public static class SeccompBenchProfiles
{
    /// <summary>
    /// The default profile restated as deny-only rules: the namespace check of clone/unshare as one
    /// rule per CLONE_NEW* bit, the socket family allow-list as the list of the other families
    /// below AF_MAX (46) plus "domain >= 46", NETLINK_ROUTE as "protocol != 0" for AF_NETLINK.
    /// personality is left out: "any value but these five" has no such form.
    /// </summary>
    public static List<SeccompRule> DefaultDenyOnly()
    {
        SyscallTable t = SyscallTable.X86_64;
        SeccompAction eperm = SeccompAction.Errno(1);
        var rules = new List<SeccompRule>();
        foreach (string name in DefaultFilter.BlockedNames)
            rules.Add(new SeccompRule(t[name], eperm));
        rules.Add(new SeccompRule(t["clone3"], SeccompAction.Errno(38)));
        foreach (string name in new[] { "clone", "unshare" })
        {
            for (int bit = 0; bit < 32; bit++)
            {
                uint flag = 1u << bit;
                if ((DefaultFilter.NamespaceFlags & flag) != 0)
                    rules.Add(new SeccompRule(t[name], eperm, ArgCondition.MaskedEq(0, flag, flag)));
            }
        }
        rules.Add(new SeccompRule(t["ioctl"], eperm, ArgCondition.Eq32(1, DefaultFilter.Tiocsti)));
        rules.Add(new SeccompRule(t["ioctl"], eperm, ArgCondition.Eq32(1, DefaultFilter.Tioclinux)));
        for (uint family = 0; family < 46; family++)
        {
            if (family is not (DefaultFilter.AfUnix or DefaultFilter.AfInet or DefaultFilter.AfInet6 or DefaultFilter.AfNetlink))
                rules.Add(new SeccompRule(t["socket"], eperm, ArgCondition.Eq32(0, family)));
        }
        rules.Add(new SeccompRule(t["socket"], eperm, ArgCondition.Ge(0, 46)));
        foreach (uint inet in new[] { DefaultFilter.AfInet, DefaultFilter.AfInet6 })
        {
            foreach (uint type in new[] { DefaultFilter.SockRaw, DefaultFilter.SockPacket })
                rules.Add(new SeccompRule(t["socket"], eperm, ArgCondition.Eq32(0, inet), ArgCondition.MaskedEq(1, DefaultFilter.SockTypeMask, type)));
        }
        rules.Add(new SeccompRule(t["socket"], eperm, ArgCondition.Eq32(0, DefaultFilter.AfNetlink), ArgCondition.Ne(2, 0)));
        return rules;
    }

    /// <summary>400 rules: two per syscall for the first 200 x86_64 syscalls other than getppid (the
    /// call the overhead loop makes), each refusing one 64-bit value of argument 0 that real calls
    /// do not pass, with 50 different errnos.</summary>
    public static List<SeccompRule> FourHundred()
    {
        uint getppid = SyscallTable.X86_64["getppid"];
        var rules = new List<SeccompRule>();
        int i = 0;
        foreach ((_, uint nr) in SyscallTable.X86_64.Entries.Where(e => e.Number != getppid).Take(200))
        {
            for (int j = 0; j < 2; j++, i++)
                rules.Add(new SeccompRule(nr, SeccompAction.Errno(1 + (i % 50)), ArgCondition.Eq(0, 0xdead_0000_0000UL + (ulong)i)));
        }
        return rules;
    }

    /// <summary>One rule per line: "NR RET N [ARG OP VALUE MASK]..." (RET is the SECCOMP_RET_* value,
    /// which is also libseccomp's action value; OP is eq ne lt le gt ge meq).</summary>
    public static string ToText(IEnumerable<SeccompRule> rules)
    {
        var text = new StringBuilder();
        foreach (SeccompRule r in rules)
        {
            text.Append(CultureInfo.InvariantCulture, $"{r.Syscall} 0x{r.Action.ToReturnValue():x} {r.Conditions.Length}");
            foreach (ArgCondition c in r.Conditions)
                text.Append(CultureInfo.InvariantCulture, $" {c.Arg} {c.Op.ToString().ToLowerInvariant()} 0x{c.Value:x} 0x{c.Mask:x}");
            text.Append('\n');
        }
        return text.ToString();
    }

    /// <summary>`Bench seccomp-export DIR`: writes NAME.rules and NAME.bpf (compiled here) for both profiles.</summary>
    public static int Export(string dir)
    {
        Directory.CreateDirectory(dir);
        foreach ((string name, List<SeccompRule> rules) in new[] { ("default", DefaultDenyOnly()), ("400", FourHundred()) })
        {
            CompileResult r = FilterCompiler.Compile(rules, SeccompAction.Allow, Architecture.X86_64);
            if (r.Filter is null)
            {
                Console.Error.WriteLine($"{name}: {r.Error}");
                return 1;
            }
            File.WriteAllText(Path.Combine(dir, name + ".rules"), ToText(rules));
            File.WriteAllBytes(Path.Combine(dir, name + ".bpf"), BpfProgram.ToBytes(r.Filter.Program));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {rules.Count} rules, {r.Filter.Stats.Syscalls} syscalls -> {r.Filter.Stats.Instructions} instructions, max depth {r.Filter.Stats.MaxDepth}"));
        }
        return 0;
    }
}
