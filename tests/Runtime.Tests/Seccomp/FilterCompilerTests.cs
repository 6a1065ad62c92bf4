using Xunit;
using System.Collections.Immutable;
using Sandboxrun.Seccomp;
using static Sandboxrun.Tests.Seccomp.FilterHarness;

namespace Sandboxrun.Tests.Seccomp;

/// <summary>Table tests: each rule form and action, run through the BPF interpreter.</summary>
public sealed class FilterCompilerTests
{
    private const uint X64 = Bpf.AuditArchX86_64;
    private const uint Nr = 100;

    private static uint Run(CompiledFilter f, uint nr, params ulong[] args) => BpfInterpreter.Run(f.Program, X64, nr, args);

    private static ulong[] Arg(int index, ulong value)
    {
        var args = new ulong[6];
        args[index] = value;
        return args;
    }

    public static TheoryData<ArgOp, ulong, ulong, bool> Comparisons => new()
    {
        // op, rule value, argument, matches
        { ArgOp.Eq, 0x1_0000_0005, 0x1_0000_0005, true },
        { ArgOp.Eq, 0x1_0000_0005, 0x0_0000_0005, false }, // low halves equal, high differ
        { ArgOp.Eq, 0x1_0000_0005, 0x1_0000_0006, false },
        { ArgOp.Eq, 0, 0, true },
        { ArgOp.Ne, 0x1_0000_0005, 0x1_0000_0005, false },
        { ArgOp.Ne, 0x1_0000_0005, 0x2_0000_0005, true },
        { ArgOp.Ne, 0x1_0000_0005, 0x1_0000_0004, true },
        { ArgOp.Gt, 0x1_0000_0005, 0x1_0000_0006, true },
        { ArgOp.Gt, 0x1_0000_0005, 0x1_0000_0005, false },
        { ArgOp.Gt, 0x1_0000_0005, 0x0_ffff_ffff, false },  // bigger low half, smaller high half
        { ArgOp.Gt, 0x1_0000_0005, 0x2_0000_0000, true },   // smaller low half, bigger high half
        { ArgOp.Gt, ulong.MaxValue, ulong.MaxValue, false },
        { ArgOp.Ge, 0x1_0000_0005, 0x1_0000_0005, true },
        { ArgOp.Ge, 0x1_0000_0005, 0x1_0000_0004, false },
        { ArgOp.Ge, 0x1_0000_0005, 0x0_ffff_ffff, false },
        { ArgOp.Ge, 0, 0, true },
        { ArgOp.Lt, 0x1_0000_0005, 0x1_0000_0004, true },
        { ArgOp.Lt, 0x1_0000_0005, 0x1_0000_0005, false },
        { ArgOp.Lt, 0x1_0000_0005, 0x0_ffff_ffff, true },
        { ArgOp.Lt, 0x1_0000_0005, 0x2_0000_0000, false },
        { ArgOp.Lt, 0, 0, false },
        { ArgOp.Le, 0x1_0000_0005, 0x1_0000_0005, true },
        { ArgOp.Le, 0x1_0000_0005, 0x1_0000_0006, false },
        { ArgOp.Le, 0x1_0000_0005, 0x0_ffff_ffff, true },
        { ArgOp.Le, ulong.MaxValue, ulong.MaxValue, true },
    };

    [Theory]
    [MemberData(nameof(Comparisons))]
    public void ComparisonsAreUnsigned64BitOnEveryArgument(ArgOp op, ulong value, ulong arg, bool matches)
    {
        for (int index = 0; index < 6; index++)
        {
            var rule = new SeccompRule(Nr, Eperm, new ArgCondition(index, op, value));
            foreach (bool optimize in new[] { true, false })
            {
                CompiledFilter f = Compile([rule], SeccompAction.Allow, options: new CompileOptions(optimize));
                uint expected = matches ? Eperm.ToReturnValue() : Bpf.RetAllow;
                uint actual = Run(f, Nr, Arg(index, arg));
                Assert.True(expected == actual, Report($"{op} arg{index}: 0x{arg:x} vs 0x{value:x}", f.Program, [rule], SeccompAction.Allow));
                Assert.Equal(Bpf.RetAllow, Run(f, Nr + 1, Arg(index, arg))); // another syscall
            }
        }
    }

    [Theory]
    [InlineData(0xffffffffUL, 0x5412UL, 0x5412UL, true)]
    [InlineData(0xffffffffUL, 0x5412UL, 0x123_0000_5412UL, true)]   // high half never looked at (CVE-2019-10063)
    [InlineData(0xffffffffUL, 0x5412UL, 0x5413UL, false)]
    [InlineData(0xfUL, 0x3UL, 0x80803UL, true)]                     // SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK
    [InlineData(0xfUL, 0x3UL, 0x80802UL, false)]
    [InlineData(0xffff_ffff_0000_0000UL, 0x7_0000_0000UL, 0x7_1234_5678UL, true)] // high half only
    [InlineData(0xffff_ffff_0000_0000UL, 0x7_0000_0000UL, 0x6_0000_0000UL, false)]
    [InlineData(ulong.MaxValue, 0x1_0000_0001UL, 0x1_0000_0001UL, true)]
    [InlineData(ulong.MaxValue, 0x1_0000_0001UL, 0x1UL, false)]
    [InlineData(0UL, 0UL, 0xdead_beefUL, true)]                     // empty mask: always
    [InlineData(0xfUL, 0x10UL, 0x10UL, false)]                      // value outside the mask: never
    public void MaskedEqualityComparesOnlyTheMaskedBits(ulong mask, ulong value, ulong arg, bool matches)
    {
        var rule = new SeccompRule(Nr, Eperm, ArgCondition.MaskedEq(1, mask, value));
        foreach (bool optimize in new[] { true, false })
        {
            CompiledFilter f = Compile([rule], SeccompAction.Allow, options: new CompileOptions(optimize));
            Assert.Equal(matches ? Eperm.ToReturnValue() : Bpf.RetAllow, Run(f, Nr, 0, arg));
        }
    }

    [Fact]
    public void A32BitComparisonNeverLoadsTheHighHalf()
    {
        CompiledFilter f = Compile([new SeccompRule(Nr, Eperm, ArgCondition.Eq32(1, 0x5412))], SeccompAction.Allow);
        Assert.DoesNotContain(f.Program, i => i.Code == Bpf.LdWAbs && i.K == Bpf.OffsetArgHigh(1));
        Assert.Contains(f.Program, i => i.Code == Bpf.LdWAbs && i.K == Bpf.OffsetArgLow(1));
    }

    public static TheoryData<string> Actions => new() { "allow", "errno", "kill_process", "kill_thread", "log", "trap", "user_notif" };

    [Theory]
    [MemberData(nameof(Actions))]
    public void EveryActionIsReturnedAsItsSeccompValue(string name)
    {
        (SeccompAction action, uint expected) = name switch
        {
            "allow" => (SeccompAction.Allow, 0x7fff0000u),
            "errno" => (SeccompAction.Errno(13), 0x0005000du),
            "kill_process" => (SeccompAction.KillProcess, 0x80000000u),
            "kill_thread" => (SeccompAction.KillThread, 0x00000000u),
            "log" => (SeccompAction.Log, 0x7ffc0000u),
            "trap" => (SeccompAction.Trap(7), 0x00030007u),
            _ => (SeccompAction.UserNotif, 0x7fc00000u),
        };
        Assert.Equal(expected, action.ToReturnValue());
        Assert.Equal(action, SeccompAction.FromReturnValue(expected));
        SeccompAction other = action.Kind == SeccompActionKind.Errno ? SeccompAction.Allow : SeccompAction.Errno(1);
        CompiledFilter asRule = Compile([new SeccompRule(Nr, action, ArgCondition.Eq(0, 1))], other);
        Assert.Equal(expected, Run(asRule, Nr, 1));
        Assert.Equal(other.ToReturnValue(), Run(asRule, Nr, 2));
        CompiledFilter asDefault = Compile([new SeccompRule(Nr, other)], action);
        Assert.Equal(expected, Run(asDefault, Nr + 1));
    }

    [Fact]
    public void ErrnoIsLimitedToMaxErrno()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SeccompAction.Errno(4096));
        Assert.Throws<ArgumentOutOfRangeException>(() => SeccompAction.Errno(-1));
        Assert.Equal(0x00050fffu, SeccompAction.Errno(4095).ToReturnValue());
    }

    [Fact]
    public void FirstMatchingRuleWinsThenTheDefault()
    {
        SeccompRule[] rules =
        [
            new(Nr, SeccompAction.Errno(1), ArgCondition.Eq(0, 1)),
            new(Nr, SeccompAction.Errno(2), ArgCondition.Ge(0, 1)),        // would also match 1
            new(Nr, SeccompAction.Errno(3), ArgCondition.Eq(1, 9), ArgCondition.Eq(2, 9)), // an AND
        ];
        foreach (bool optimize in new[] { true, false })
        {
            CompiledFilter f = Compile(rules, SeccompAction.Allow, options: new CompileOptions(optimize));
            Assert.Equal(Bpf.RetErrno(1), Run(f, Nr, 1));
            Assert.Equal(Bpf.RetErrno(2), Run(f, Nr, 5));
            Assert.Equal(Bpf.RetErrno(3), Run(f, Nr, 0, 9, 9));
            Assert.Equal(Bpf.RetAllow, Run(f, Nr, 0, 9, 8)); // only one half of the AND
            Assert.Equal(Bpf.RetAllow, Run(f, Nr, 0));
        }
    }

    [Fact]
    public void AnArgumentIsReloadedAfterAMaskChangedTheAccumulator()
    {
        SeccompRule[] rules =
        [
            new(Nr, SeccompAction.Errno(1), ArgCondition.MaskedEq(0, 0xf, 0x3)),
            new(Nr, SeccompAction.Errno(2), ArgCondition.MaskedEq(0, 0xf0, 0x30)),
            new(Nr, SeccompAction.Errno(3), ArgCondition.Eq32(0, 0x0)),
        ];
        CompiledFilter f = Compile(rules, SeccompAction.Allow);
        Assert.Equal(Bpf.RetErrno(1), Run(f, Nr, 0x13));
        Assert.Equal(Bpf.RetErrno(2), Run(f, Nr, 0x31));
        Assert.Equal(Bpf.RetErrno(3), Run(f, Nr, 0x0));
        Assert.Equal(Bpf.RetAllow, Run(f, Nr, 0x100));
    }

    [Fact]
    public void RulesAfterAnUnconditionalRuleAreUnreachable()
    {
        CompiledFilter f = Compile(
            [new SeccompRule(Nr, SeccompAction.Errno(1)), new SeccompRule(Nr, SeccompAction.Errno(2), ArgCondition.Eq(0, 0))],
            SeccompAction.Allow);
        Assert.Equal(Bpf.RetErrno(1), Run(f, Nr, 0));
        Assert.DoesNotContain(f.Program, i => i.Code == Bpf.RetK && i.K == Bpf.RetErrno(2));
    }

    [Fact]
    public void ProgramStartsWithTheArchitectureAndX32Checks()
    {
        CompiledFilter f = Compile([new SeccompRule(Nr, Eperm)], SeccompAction.Allow);
        ImmutableArray<BpfInstruction> p = f.Program;
        Assert.Equal(new BpfInstruction(Bpf.LdWAbs, 0, 0, Bpf.OffsetArch), p[0]);
        Assert.Equal((Bpf.JeqK, Bpf.AuditArchX86_64), (p[1].Code, p[1].K));
        Assert.Equal(Bpf.RetKillProcess, p[2 + p[1].Jf].K);
        Assert.Equal(new BpfInstruction(Bpf.LdWAbs, 0, 0, Bpf.OffsetNr), p[2 + p[1].Jt]);
        BpfInstruction x32 = p[3 + p[1].Jt];
        Assert.Equal((Bpf.JgeK, Bpf.X32SyscallBit), (x32.Code, x32.K));

        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(p, Bpf.AuditArchI386, 20));
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(p, Bpf.AuditArchAarch64, Nr));
        Assert.Equal(Eperm.ToReturnValue(), Run(f, Bpf.X32SyscallBit | 39));
        Assert.Equal(Eperm.ToReturnValue(), Run(f, 0xffffffff)); // nr -1 is not native either
        Assert.Equal(Bpf.RetAllow, Run(f, Bpf.X32SyscallBit - 1));
    }

    [Fact]
    public void X32ActionCanBeChosen()
    {
        CompiledFilter f = Compile([new SeccompRule(Nr, Eperm)], SeccompAction.Allow, options: new CompileOptions(X32Action: SeccompAction.KillProcess));
        Assert.Equal(Bpf.RetKillProcess, Run(f, Bpf.X32SyscallBit | Nr));
    }

    [Fact]
    public void AnArchitectureWithoutX32UsesTheWholeNumberRange()
    {
        var arch = new Architecture("test", Bpf.AuditArchAarch64, SyscallTable.X86_64, HasX32Abi: false);
        CompiledFilter f = Compile([new SeccompRule(0xffffffff, Eperm), new SeccompRule(Bpf.X32SyscallBit | 5, SeccompAction.Errno(2))], SeccompAction.Allow, arch);
        Assert.Equal(Eperm.ToReturnValue(), BpfInterpreter.Run(f.Program, Bpf.AuditArchAarch64, 0xffffffff));
        Assert.Equal(Bpf.RetErrno(2), BpfInterpreter.Run(f.Program, Bpf.AuditArchAarch64, Bpf.X32SyscallBit | 5));
        Assert.Equal(Bpf.RetAllow, BpfInterpreter.Run(f.Program, Bpf.AuditArchAarch64, Bpf.X32SyscallBit | 6));
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(f.Program, Bpf.AuditArchX86_64, 5));
    }

    [Fact]
    public void NoRulesStillChecksTheArchitecture()
    {
        CompiledFilter f = Compile([], SeccompAction.Allow);
        Assert.Equal(Bpf.RetAllow, Run(f, 0));
        Assert.Equal(Bpf.RetKillProcess, BpfInterpreter.Run(f.Program, Bpf.AuditArchI386, 0));
        Assert.True(f.Program.Length <= 7, BpfProgram.Disassemble(f.Program));
    }

    [Fact]
    public void InvalidRulesAreReportedNotCompiled()
    {
        Assert.Contains("argument index 6", FilterCompiler.Compile([new SeccompRule(Nr, Eperm, ArgCondition.Eq(6, 0))], SeccompAction.Allow, Architecture.X86_64).Error);
        Assert.Contains("outside the x86_64 native range", FilterCompiler.Compile([new SeccompRule(Bpf.X32SyscallBit, Eperm)], SeccompAction.Allow, Architecture.X86_64).Error);
    }

    [Fact]
    public void AProgramOverTheKernelLimitIsAnError()
    {
        // 700 syscalls x 2 rules x 4 Eq conditions (4 instructions each) cannot fit in 4096.
        var rules = new List<SeccompRule>();
        for (uint nr = 0; nr < 700; nr++)
        {
            rules.Add(new SeccompRule(nr, SeccompAction.Errno((int)(nr % 4000) + 1), ArgCondition.Eq(0, nr), ArgCondition.Eq(1, nr), ArgCondition.Eq(2, nr), ArgCondition.Eq(3, nr)));
            rules.Add(new SeccompRule(nr, SeccompAction.Trap((ushort)nr), ArgCondition.Eq(4, nr), ArgCondition.Eq(5, nr), ArgCondition.Ne(0, nr), ArgCondition.Ne(1, nr)));
        }
        CompileResult r = FilterCompiler.Compile(rules, SeccompAction.Allow, Architecture.X86_64);
        Assert.Null(r.Filter);
        Assert.Contains("4096", r.Error);
    }

    /// <summary>400 syscalls, each refused with its own errno behind an argument test: the search
    /// tree's upper jumps and the shared returns are far more than 255 instructions away.</summary>
    public static List<SeccompRule> LargeProfile()
    {
        var rules = new List<SeccompRule>();
        for (uint i = 0; i < 400; i++)
        {
            uint nr = i < 300 ? i : 424 + i - 300;
            rules.Add(new SeccompRule(nr, SeccompAction.Errno((int)(i % 50) + 1), ArgCondition.Eq32(0, i)));
        }
        return rules;
    }

    [Fact]
    public void FarJumpsGoThroughTrampolines()
    {
        List<SeccompRule> rules = LargeProfile();
        foreach (bool optimize in new[] { true, false })
        {
            CompiledFilter f = Compile(rules, SeccompAction.Allow, options: new CompileOptions(optimize));
            Assert.True(f.Program.Length > 1000, f.Stats.ToString());
            Assert.True(f.Program.Length < Bpf.MaxInstructions, f.Stats.ToString());
            Assert.True(f.Stats.Trampolines > 0, f.Stats.ToString());
            Assert.Contains(f.Program, i => i.Code == Bpf.Ja && i.K > Bpf.MaxConditionalOffset);
            int checkedInputs = AssertMatchesModel(f.Program, rules, SeccompAction.Allow, Architecture.X86_64, Eperm,
                Inputs(rules, Architecture.X86_64, new Random(400), randomVectors: 1), optimize ? "optimised" : "plain");
            Assert.True(checkedInputs > 5_000, checkedInputs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void StatsDescribeTheProgram()
    {
        List<SeccompRule> rules = LargeProfile();
        CompiledFilter f = Compile(rules, SeccompAction.Allow);
        Assert.Equal(f.Program.Length, f.Stats.Instructions);
        Assert.Equal(400, f.Stats.Syscalls);
        Assert.Equal(400, f.Stats.Rules);
        Assert.Equal(BpfProgram.MaxDepth(f.Program), f.Stats.MaxDepth);
        // arch (2) + nr and x32 (2) + log2(400) search + the rule's test + a few trampolines on the way
        Assert.InRange(f.Stats.MaxDepth, 13, 22);
    }

    [Fact]
    public void ConsecutiveSyscallsWithTheSameRulesBecomeOneRange()
    {
        SeccompRule[] rules = [.. Enumerable.Range(428, 6).Select(nr => new SeccompRule((uint)nr, Eperm))]; // open_tree..fspick
        CompiledFilter f = Compile(rules, SeccompAction.Allow);
        Assert.True(f.Program.Length <= 10, BpfProgram.Disassemble(f.Program));
        for (uint nr = 420; nr < 440; nr++)
            Assert.Equal(nr is >= 428 and <= 433 ? Eperm.ToReturnValue() : Bpf.RetAllow, Run(f, nr));
    }

    [Fact]
    public void ProgramRoundTripsThroughSockFilterBytes()
    {
        CompiledFilter f = Compile(LargeProfile(), SeccompAction.Allow);
        byte[] bytes = BpfProgram.ToBytes(f.Program);
        Assert.Equal(f.Program.Length * 8, bytes.Length);
        Assert.Equal(f.Program.ToArray(), BpfProgram.FromBytes(bytes).ToArray());
        Assert.Equal(0x20, bytes[0]); // ld, little-endian code
        Assert.Equal(4, bytes[4]);    // k = offsetof(seccomp_data, arch)
    }

    [Fact]
    public void DisassemblyNamesLoadsReturnsAndSyscalls()
    {
        CompiledFilter f = Compile([new SeccompRule(101, Eperm), new SeccompRule(16, Eperm, ArgCondition.Eq32(1, 0x5412))], SeccompAction.Allow);
        string text = BpfProgram.Disassemble(f.Program, SyscallTable.X86_64);
        Assert.Contains("ld  [arch]", text, StringComparison.Ordinal);
        Assert.Contains("ret kill_process", text, StringComparison.Ordinal);
        Assert.Contains("(ptrace)", text, StringComparison.Ordinal);
        Assert.Contains("ld  [arg1_lo]", text, StringComparison.Ordinal);
        Assert.Contains("ret errno(1)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidatorRefusesWhatTheKernelRefuses()
    {
        Assert.NotNull(BpfProgram.Validate([]));
        Assert.NotNull(BpfProgram.Validate([new BpfInstruction(Bpf.LdWAbs, 0, 0, 0)]));           // no return
        Assert.NotNull(BpfProgram.Validate([new BpfInstruction(Bpf.LdWAbs, 0, 0, 64), new BpfInstruction(Bpf.RetK, 0, 0, 0)]));
        Assert.NotNull(BpfProgram.Validate([new BpfInstruction(Bpf.LdWAbs, 0, 0, 2), new BpfInstruction(Bpf.RetK, 0, 0, 0)]));
        Assert.NotNull(BpfProgram.Validate([new BpfInstruction(Bpf.JeqK, 1, 0, 0), new BpfInstruction(Bpf.RetK, 0, 0, 0)]));
        Assert.NotNull(BpfProgram.Validate([new BpfInstruction(Bpf.Ja, 0, 0, 1), new BpfInstruction(Bpf.RetK, 0, 0, 0)]));
        Assert.Null(BpfProgram.Validate([new BpfInstruction(Bpf.JeqK, 0, 0, 0), new BpfInstruction(Bpf.RetK, 0, 0, 0)]));
    }
}
