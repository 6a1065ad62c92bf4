using Xunit;
using System.Collections.Immutable;
using System.Text;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Tests.Seccomp;

public readonly record struct FilterInput(uint Arch, uint Nr, ulong[] Args)
{
    public override string ToString() =>
        $"arch=0x{Arch:x} nr=0x{Nr:x} args=[{string.Join(", ", Args.Select(a => $"0x{a:x}"))}]";
}

/// <summary>Compiles rule sets and checks programs against the rule model, printing a disassembly on failure.</summary>
public static class FilterHarness
{
    public static readonly SeccompAction Eperm = SeccompAction.Errno(1);

    public static CompiledFilter Compile(IEnumerable<SeccompRule> rules, SeccompAction defaultAction, Architecture? arch = null, CompileOptions? options = null)
    {
        CompileResult r = FilterCompiler.Compile(rules, defaultAction, arch ?? Architecture.X86_64, options);
        Assert.True(r.Filter is not null, r.Error);
        return r.Filter!;
    }

    /// <summary>Every input: the program returns what the rule model says. Returns the number of inputs checked.</summary>
    public static int AssertMatchesModel(IReadOnlyList<BpfInstruction> program, IReadOnlyList<SeccompRule> rules, SeccompAction defaultAction,
        Architecture arch, SeccompAction x32Action, IEnumerable<FilterInput> inputs, string label = "")
    {
        Assert.Null(BpfProgram.Validate(program));
        int n = 0;
        foreach (FilterInput input in inputs)
        {
            uint expected = RuleEvaluator.Evaluate(rules, defaultAction, arch, x32Action, input.Arch, input.Nr, input.Args);
            uint actual = BpfInterpreter.RunUnchecked(program, input.Arch, input.Nr, input.Args);
            if (expected != actual)
                Assert.Fail(Report($"{label}: {input}: expected {Name(expected)}, program returned {Name(actual)}", program, rules, defaultAction));
            n++;
        }
        return n;
    }

    public static string Report(string headline, IReadOnlyList<BpfInstruction> program, IReadOnlyList<SeccompRule> rules, SeccompAction defaultAction)
    {
        var text = new StringBuilder(headline).Append('\n');
        text.Append("default: ").Append(defaultAction).Append('\n');
        foreach (SeccompRule r in rules)
            text.Append("rule ").Append(r).Append('\n');
        text.Append(BpfProgram.Disassemble(program, SyscallTable.X86_64));
        return text.ToString();
    }

    public static string Name(uint ret) => SeccompAction.FromReturnValue(ret)?.ToString() ?? $"0x{ret:x8}";

    private static readonly ulong[] s_interesting =
    [
        0, 1, 2, 3, 0xf, 0x10, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x1_0000_0000, 0x1_0000_0001, 0x1_ffff_ffff,
        0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, 0xffff_ffff_0000_0000, 0xffff_ffff_ffff_fffe, 0xffff_ffff_ffff_ffff,
    ];

    public static ulong Interesting(Random rng) => rng.Next(4) switch
    {
        0 => (ulong)rng.NextInt64() ^ ((ulong)rng.Next(2) << 63),
        1 => (uint)rng.Next() | ((ulong)rng.Next(2) << 31),
        2 => (ulong)(uint)rng.Next() << 32,
        _ => s_interesting[rng.Next(s_interesting.Length)],
    };

    /// <summary>Values at and around <paramref name="v"/>, and with each half changed on its own.</summary>
    public static IEnumerable<ulong> Around(ulong v, ulong mask)
    {
        yield return v;
        yield return v + 1;
        yield return v - 1;
        yield return v ^ 0x1_0000_0000;          // high half differs by one bit, low half equal
        yield return v + 0x1_0000_0000;
        yield return v - 0x1_0000_0000;
        yield return v ^ 0x8000_0000_0000_0000;
        yield return v ^ 0x8000_0000;            // low half differs in its top bit
        yield return (v & 0xffff_ffff_0000_0000) | (uint)~(uint)v;
        yield return v | ~mask;                 // bits outside the mask set
        yield return v & mask;
        yield return (v & 0xffff_ffff) | 0xdead_beef_0000_0000;
    }

    /// <summary>A value satisfying <paramref name="c"/> when one exists.</summary>
    public static ulong? Satisfying(ArgCondition c, Random rng) => c.Op switch
    {
        ArgOp.Eq or ArgOp.Le or ArgOp.Ge => c.Value,
        ArgOp.Ne => c.Value + 1,
        ArgOp.Lt => c.Value == 0 ? null : c.Value - 1,
        ArgOp.Gt => c.Value == ulong.MaxValue ? null : c.Value + 1,
        ArgOp.MaskedEq => (c.Value & ~c.Mask) != 0 ? null : c.Value | ((ulong)rng.NextInt64() & ~c.Mask),
        _ => null,
    };

    /// <summary>
    /// Inputs for a rule set: every syscall with rules and its neighbours, far and special numbers,
    /// x32 and foreign architectures; for each syscall, argument vectors that satisfy each rule
    /// (so first-match order is exercised) and vectors at and around every compared constant.
    /// </summary>
    public static List<FilterInput> Inputs(IReadOnlyList<SeccompRule> rules, Architecture arch, Random rng, int randomVectors = 4)
    {
        var inputs = new List<FilterInput>();
        ulong[] RandomArgs() => [.. Enumerable.Range(0, 6).Select(_ => Interesting(rng))];
        var numbers = new HashSet<uint> { 0, 1, Bpf.X32SyscallBit - 1, Bpf.X32SyscallBit, 0xffffffff, 0x7fffffff, (uint)rng.Next(1000) };
        foreach (uint s in rules.Select(r => r.Syscall).Distinct())
        {
            numbers.Add(s);
            numbers.Add(s + 1);
            numbers.Add(s - 1);
            numbers.Add(s | Bpf.X32SyscallBit);
        }
        foreach (uint nr in numbers)
        {
            for (int i = 0; i < randomVectors; i++)
                inputs.Add(new FilterInput(arch.AuditArch, nr, RandomArgs()));
        }
        foreach (uint foreign in new[] { Bpf.AuditArchI386, Bpf.AuditArchAarch64, 0u, arch.AuditArch ^ 1 })
        {
            if (foreign != arch.AuditArch)
                inputs.Add(new FilterInput(foreign, rules.Count > 0 ? rules[0].Syscall : 0, RandomArgs()));
        }

        foreach (IGrouping<uint, SeccompRule> group in rules.GroupBy(r => r.Syscall))
        {
            foreach (SeccompRule rule in group)
            {
                ulong[] args = RandomArgs();
                bool possible = true;
                foreach (ArgCondition c in rule.Conditions)
                {
                    if (Satisfying(c, rng) is ulong v)
                        args[c.Arg] = v;
                    else
                        possible = false;
                }
                if (possible)
                    inputs.Add(new FilterInput(arch.AuditArch, group.Key, args));

                foreach (ArgCondition c in rule.Conditions)
                {
                    foreach (ulong v in Around(c.Value, c.Mask))
                    {
                        ulong[] near = (ulong[])args.Clone();
                        near[c.Arg] = v;
                        inputs.Add(new FilterInput(arch.AuditArch, group.Key, near));
                    }
                }
            }
        }
        return inputs;
    }

    public static SeccompAction RandomAction(Random rng) => rng.Next(7) switch
    {
        0 => SeccompAction.Allow,
        1 => SeccompAction.Errno(rng.Next(SeccompAction.MaxErrno + 1)),
        2 => SeccompAction.KillProcess,
        3 => SeccompAction.KillThread,
        4 => SeccompAction.Log,
        5 => SeccompAction.Trap((ushort)rng.Next(65536)),
        _ => SeccompAction.UserNotif,
    };

    private static readonly ulong[] s_masks = [0xffffffff, 0xf, 0xffff_ffff_0000_0000, ulong.MaxValue, 0, 0x8000_0000_0000_0001, 0x00ff_00ff_00ff_00ff];

    public static ArgCondition RandomCondition(Random rng)
    {
        var op = (ArgOp)rng.Next(7);
        ulong mask = rng.Next(3) == 0 ? (ulong)rng.NextInt64() : s_masks[rng.Next(s_masks.Length)];
        ulong value = Interesting(rng);
        if (op == ArgOp.MaskedEq && rng.Next(5) != 0)
            value &= mask; // mostly satisfiable
        return new ArgCondition(rng.Next(ArgCondition.MaxArgs), op, value, op == ArgOp.MaskedEq ? mask : ulong.MaxValue);
    }

    /// <summary>A random rule set: clustered and scattered syscall numbers (runs of neighbours
    /// exercise range coalescing), 1-4 rules each with 0-3 conditions, actions of every kind.
    /// The defaults keep even the unoptimised program under the kernel's 4096 instructions.</summary>
    public static List<SeccompRule> RandomRules(Random rng, Architecture arch, int maxSyscalls = 24, int maxRules = 4, int maxConditions = 3)
    {
        int count = rng.Next(0, maxSyscalls + 1);
        uint limit = arch.HasX32Abi ? Bpf.X32SyscallBit : uint.MaxValue;
        var syscalls = new List<uint>();
        uint start = (uint)rng.Next(500);
        for (int i = 0; i < count; i++)
        {
            uint nr = rng.Next(4) switch
            {
                0 => start + (uint)i,                                  // a run
                1 => (uint)rng.Next(64),
                2 => limit - 1 - (uint)rng.Next(3),                    // the top of the range
                _ => (uint)rng.NextInt64(0, limit),
            };
            syscalls.Add(nr);
        }
        var rules = new List<SeccompRule>();
        SeccompAction shared = RandomAction(rng);
        foreach (uint nr in syscalls)
        {
            int n = rng.Next(1, maxRules + 1);
            for (int r = 0; r < n; r++)
            {
                int conditions = rng.Next(maxConditions + 1);
                SeccompAction action = rng.Next(3) == 0 ? shared : RandomAction(rng);
                rules.Add(new SeccompRule(nr, action, Enumerable.Range(0, conditions).Select(_ => RandomCondition(rng)).ToImmutableArray()));
            }
        }
        // Shuffle so a syscall's rules interleave with others' (their relative order is what counts).
        return [.. rules.OrderBy(_ => rng.Next())];
    }

    public static ImmutableArray<SeccompRule> Ordered(IEnumerable<SeccompRule> rules) => [.. rules];
}
