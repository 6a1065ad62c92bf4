using Xunit;
using System.Collections.Immutable;
using Sandboxrun.Seccomp;
using static Sandboxrun.Tests.Seccomp.FilterHarness;

namespace Sandboxrun.Tests.Seccomp;

/// <summary>
/// Seeded random rule sets, compiled and run through the interpreter against the rule model on
/// random and boundary inputs; the optimised program, the plain one and the plain one after the
/// linear peephole pass must all agree with the model on every input.
/// </summary>
public sealed class FilterCompilerPropertyTests
{
    private static readonly Architecture s_noX32 = new("no-x32", Bpf.AuditArchAarch64, SyscallTable.X86_64, HasX32Abi: false);

    [Theory]
    [InlineData(1, 800)]
    [InlineData(2, 800)]
    [InlineData(3, 800)]
    [InlineData(4, 800)]
    public void RandomRuleSetsMatchTheRuleModel(int seed, int sets)
    {
        var rng = new Random(seed);
        long inputs = 0, optimisedLength = 0, plainLength = 0;
        for (int set = 0; set < sets; set++)
        {
            Architecture arch = rng.Next(5) == 0 ? s_noX32 : Architecture.X86_64;
            List<SeccompRule> rules = RandomRules(rng, arch);
            SeccompAction defaultAction = RandomAction(rng);
            SeccompAction x32 = rng.Next(2) == 0 ? Eperm : RandomAction(rng);
            var options = new CompileOptions(Optimize: true, X32Action: x32);

            CompiledFilter optimised = Compile(rules, defaultAction, arch, options);
            CompiledFilter plain = Compile(rules, defaultAction, arch, options with { Optimize = false });
            ImmutableArray<BpfInstruction> peeped = Peephole.Optimize(plain.Program);
            List<FilterInput> sample = Inputs(rules, arch, rng);

            string label = $"seed {seed} set {set}";
            inputs += AssertMatchesModel(optimised.Program, rules, defaultAction, arch, x32, sample, label + " optimised");
            AssertMatchesModel(plain.Program, rules, defaultAction, arch, x32, sample, label + " plain");
            AssertMatchesModel(peeped, rules, defaultAction, arch, x32, sample, label + " plain+peephole");
            Assert.True(optimised.Program.Length <= plain.Program.Length, Report($"{label}: optimised is longer", optimised.Program, rules, defaultAction));
            Assert.True(peeped.Length <= plain.Program.Length);
            optimisedLength += optimised.Program.Length;
            plainLength += plain.Program.Length;
        }
        Assert.True(inputs > sets * 50L, $"only {inputs} inputs checked");
        Assert.True(optimisedLength < plainLength, $"optimiser saved nothing ({optimisedLength} vs {plainLength})");
    }

    /// <summary>
    /// The supervisor answers notifications from <see cref="SeccompRuleSet.Evaluate"/>: on random
    /// rule sets it gives what the compiled program returns, and the program compiled with
    /// notifications (<see cref="SeccompProfile.WithNotifications"/>) returns user_notif exactly
    /// where the plain one returns an errno, and the same answer everywhere else.
    /// </summary>
    [Theory]
    [InlineData(11, 400)]
    [InlineData(12, 400)]
    public void RuleSetEvaluationAndTheNotifyingProgramAgreeWithThePlainProgram(int seed, int sets)
    {
        var rng = new Random(seed);
        uint sendmsg = SyscallTable.X86_64["sendmsg"], clone3 = SyscallTable.X86_64["clone3"];
        static SeccompAction NoNotif(SeccompAction a) => a.Kind == SeccompActionKind.UserNotif ? SeccompAction.Errno(13) : a;
        long notified = 0;
        for (int set = 0; set < sets; set++)
        {
            Architecture arch = rng.Next(5) == 0 ? s_noX32 : Architecture.X86_64;
            List<SeccompRule> rules = [.. RandomRules(rng, arch).Select(r => r with { Action = NoNotif(r.Action) })];
            var stated = new SeccompRuleSet(rules, NoNotif(RandomAction(rng)), arch, rng.Next(2) == 0 ? Eperm : NoNotif(RandomAction(rng)));
            SeccompRuleSet installed = SeccompProfile.WithNotifications(stated);
            CompiledFilter plain = stated.Compile().Filter!;
            CompiledFilter withLog = installed.Compile().Filter!;
            foreach (FilterInput input in Inputs(rules, arch, rng))
            {
                uint before = BpfInterpreter.RunUnchecked(plain.Program, input.Arch, input.Nr, input.Args);
                uint after = BpfInterpreter.RunUnchecked(withLog.Program, input.Arch, input.Nr, input.Args);
                SeccompAction answer = stated.Evaluate(input.Arch, input.Nr, input.Args);
                if (answer.ToReturnValue() != before)
                    Assert.Fail(Report($"seed {seed} set {set}: {input}: rules give {answer}, program {Name(before)}", plain.Program, rules, stated.DefaultAction));
                if (input.Arch == arch.AuditArch && input.Nr is var nr && (nr == sendmsg || nr == clone3))
                    continue; // exempt from notification: BlockingSendmsgUnderLog..., LogTurnsEveryErrnoRefusal...
                uint expected = answer.Kind == SeccompActionKind.Errno ? Bpf.RetUserNotif : before;
                if (after != expected)
                    Assert.Fail(Report($"seed {seed} set {set}: {input}: with log {Name(after)}, expected {Name(expected)}", withLog.Program, [.. installed.Rules], installed.DefaultAction));
                notified += after == Bpf.RetUserNotif ? 1 : 0;
            }
        }
        Assert.True(notified > sets * 10L, $"only {notified} notified inputs");
    }

    /// <summary>Bigger sets (up to 150 syscalls, so far jumps and trampolines occur) and a denser
    /// input sample: the optimised and unoptimised programs agree with each other everywhere.</summary>
    [Fact]
    public void OptimisedAndUnoptimisedProgramsAgreeOnALargeSample()
    {
        var rng = new Random(20260101);
        int compared = 0, withTrampolines = 0;
        for (int set = 0; set < 60; set++)
        {
            List<SeccompRule> rules = RandomRules(rng, Architecture.X86_64, maxSyscalls: 150, maxRules: 2, maxConditions: 1);
            SeccompAction defaultAction = RandomAction(rng);
            CompiledFilter optimised = Compile(rules, defaultAction);
            CompiledFilter plain = Compile(rules, defaultAction, options: new CompileOptions(Optimize: false));
            if (plain.Stats.Trampolines > 0 || optimised.Stats.Trampolines > 0)
                withTrampolines++;
            foreach (FilterInput input in Inputs(rules, Architecture.X86_64, rng, randomVectors: 8))
            {
                uint a = BpfInterpreter.RunUnchecked(optimised.Program, input.Arch, input.Nr, input.Args);
                uint b = BpfInterpreter.RunUnchecked(plain.Program, input.Arch, input.Nr, input.Args);
                if (a != b)
                    Assert.Fail(Report($"set {set}: {input}: optimised {Name(a)}, unoptimised {Name(b)}", optimised.Program, rules, defaultAction));
                compared++;
            }
        }
        Assert.True(compared > 100_000, compared.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(withTrampolines > 0, "no rule set was large enough to need trampolines");
    }

    [Fact]
    public void RandomBytePrograms_PeepholeKeepsTheirMeaning()
    {
        // Programs that are not the compiler's own: random straight-line jump nests with ja chains.
        var rng = new Random(77);
        for (int n = 0; n < 500; n++)
        {
            ImmutableArray<BpfInstruction> program = RandomProgram(rng);
            Assert.Null(BpfProgram.Validate(program));
            ImmutableArray<BpfInstruction> optimised = Peephole.Optimize(program);
            Assert.Null(BpfProgram.Validate(optimised));
            Assert.True(optimised.Length <= program.Length);
            for (int i = 0; i < 200; i++)
            {
                uint nr = (uint)rng.Next(8);
                ulong[] args = [.. Enumerable.Range(0, 6).Select(_ => (ulong)rng.Next(8))];
                uint a = BpfInterpreter.RunUnchecked(program, Bpf.AuditArchX86_64, nr, args);
                uint b = BpfInterpreter.RunUnchecked(optimised, Bpf.AuditArchX86_64, nr, args);
                Assert.True(a == b, $"{BpfProgram.Disassemble(program)}\n---\n{BpfProgram.Disassemble(optimised)}");
            }
        }
    }

    private static ImmutableArray<BpfInstruction> RandomProgram(Random rng)
    {
        int length = rng.Next(3, 60);
        var p = new BpfInstruction[length];
        for (int i = 0; i < length; i++)
        {
            int remaining = length - i - 1;
            if (remaining == 0)
            {
                p[i] = new BpfInstruction(Bpf.RetK, 0, 0, (uint)rng.Next(4));
                continue;
            }
            p[i] = rng.Next(6) switch
            {
                0 => new BpfInstruction(Bpf.LdWAbs, 0, 0, (uint)(rng.Next(2) == 0 ? 0 : 16 + (8 * rng.Next(6)))),
                1 => new BpfInstruction(Bpf.Ja, 0, 0, (uint)rng.Next(Math.Min(remaining, 5))),
                2 => new BpfInstruction(Bpf.RetK, 0, 0, (uint)rng.Next(4)),
                3 => new BpfInstruction(Bpf.AndK, 0, 0, (uint)rng.Next(8)),
                _ => new BpfInstruction((ushort)(new[] { Bpf.JeqK, Bpf.JgtK, Bpf.JgeK, Bpf.JsetK }[rng.Next(4)]),
                    (byte)rng.Next(Math.Min(remaining, 6)), (byte)rng.Next(Math.Min(remaining, 6)), (uint)rng.Next(8)),
            };
        }
        return [.. p];
    }
}
