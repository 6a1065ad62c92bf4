using System.Collections.Frozen;
using System.Collections.Immutable;

namespace Sandboxrun.Seccomp;

/// <summary>
/// A whole filter as the rule model: what <see cref="FilterCompiler.Compile"/> turns into BPF,
/// evaluated directly instead. With <c>process.seccomp.log</c> the installed program returns
/// SECCOMP_RET_USER_NOTIF where these rules return an errno, and the supervisor answers each
/// notification with <see cref="Evaluate"/>'s errno for the same call, so the agent sees exactly
/// what the plain program would have given it. FilterCompilerPropertyTests checks that the
/// compiled program and this evaluation agree.
/// </summary>
public sealed class SeccompRuleSet
{
    private readonly FrozenDictionary<uint, SeccompRule[]> _bySyscall;

    public SeccompRuleSet(IEnumerable<SeccompRule> rules, SeccompAction defaultAction, Architecture architecture, SeccompAction x32Action)
    {
        Rules = [.. rules];
        DefaultAction = defaultAction;
        Architecture = architecture;
        X32Action = x32Action;
        _bySyscall = Rules.GroupBy(r => r.Syscall).ToFrozenDictionary(g => g.Key, g => g.ToArray());
    }

    /// <summary>In order; for one syscall the first rule that matches wins.</summary>
    public ImmutableArray<SeccompRule> Rules { get; }

    public SeccompAction DefaultAction { get; }

    public Architecture Architecture { get; }

    /// <summary>What a call with <see cref="Bpf.X32SyscallBit"/> set gets (architectures with an x32 ABI).</summary>
    public SeccompAction X32Action { get; }

    /// <summary>The action for one call, as the compiled program's prologue and search decide it:
    /// a foreign architecture kills, an x32 number gets <see cref="X32Action"/>, then the first
    /// matching rule of the syscall, else <see cref="DefaultAction"/>. Missing arguments are 0.</summary>
    public SeccompAction Evaluate(uint auditArch, uint nr, ReadOnlySpan<ulong> args)
    {
        if (auditArch != Architecture.AuditArch)
            return SeccompAction.KillProcess;
        if (Architecture.HasX32Abi && nr >= Bpf.X32SyscallBit)
            return X32Action;
        if (!_bySyscall.TryGetValue(nr, out SeccompRule[]? rules))
            return DefaultAction;
        Span<ulong> full = stackalloc ulong[ArgCondition.MaxArgs];
        full.Clear();
        args[..Math.Min(args.Length, ArgCondition.MaxArgs)].CopyTo(full);
        foreach (SeccompRule rule in rules)
        {
            if (rule.Matches(full))
                return rule.Action;
        }
        return DefaultAction;
    }

    /// <summary>The program for these rules.</summary>
    public CompileResult Compile(CompileOptions? options = null) =>
        FilterCompiler.Compile(Rules, DefaultAction, Architecture, (options ?? new CompileOptions()) with { X32Action = X32Action });
}
