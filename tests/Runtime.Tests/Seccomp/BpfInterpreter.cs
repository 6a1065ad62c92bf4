using Xunit;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Tests.Seccomp;

/// <summary>
/// Runs a classic BPF seccomp program over a seccomp_data, as the kernel does (for the
/// instructions the compiler emits). The program is first put through the kernel's static
/// checks (<see cref="BpfProgram.Validate"/>); a run that would read outside seccomp_data or
/// fall off the end throws, so a bad program cannot pass a test by luck.
/// </summary>
public static class BpfInterpreter
{
    public static uint Run(IReadOnlyList<BpfInstruction> program, uint arch, uint nr, params ulong[] args)
    {
        if (BpfProgram.Validate(program) is string error)
            throw new InvalidOperationException("the kernel would refuse this program: " + error);
        return RunUnchecked(program, arch, nr, args);
    }

    /// <summary>How many instructions a call executes.</summary>
    public static int Steps(IReadOnlyList<BpfInstruction> program, uint arch, uint nr, params ulong[] args)
    {
        RunUnchecked(program, arch, nr, args, out int steps);
        return steps;
    }

    /// <summary>As <see cref="Run"/> without the static checks (for callers that ran them once).</summary>
    public static uint RunUnchecked(IReadOnlyList<BpfInstruction> program, uint arch, uint nr, ReadOnlySpan<ulong> args) =>
        RunUnchecked(program, arch, nr, args, out _);

    public static uint RunUnchecked(IReadOnlyList<BpfInstruction> program, uint arch, uint nr, ReadOnlySpan<ulong> args, out int steps)
    {
        steps = 0;
        Span<byte> data = stackalloc byte[64];
        data.Clear();
        BitConverter.TryWriteBytes(data, nr);
        BitConverter.TryWriteBytes(data[4..], arch);
        for (int i = 0; i < args.Length; i++)
            BitConverter.TryWriteBytes(data[(16 + (8 * i))..], args[i]);
        uint a = 0;
        for (int pc = 0; pc < program.Count; pc++)
        {
            BpfInstruction ins = program[pc];
            steps++;
            switch (ins.Code)
            {
                case Bpf.LdWAbs:
                    if (ins.K > 60 || ins.K % 4 != 0)
                        throw new InvalidOperationException($"bad load offset {ins.K} at {pc}");
                    a = BitConverter.ToUInt32(data[(int)ins.K..]);
                    break;
                case Bpf.AndK:
                    a &= ins.K;
                    break;
                case Bpf.JeqK:
                    pc += a == ins.K ? ins.Jt : ins.Jf;
                    break;
                case Bpf.JgtK:
                    pc += a > ins.K ? ins.Jt : ins.Jf;
                    break;
                case Bpf.JgeK:
                    pc += a >= ins.K ? ins.Jt : ins.Jf;
                    break;
                case Bpf.JsetK:
                    pc += (a & ins.K) != 0 ? ins.Jt : ins.Jf;
                    break;
                case Bpf.Ja:
                    pc += (int)ins.K;
                    break;
                case Bpf.RetK:
                    return ins.K;
                default:
                    throw new InvalidOperationException($"unknown opcode 0x{ins.Code:x} at {pc}");
            }
        }
        throw new InvalidOperationException("fell off the end of the program");
    }
}

/// <summary>The rule model evaluated directly: what a compiled program must return.</summary>
public static class RuleEvaluator
{
    public static uint Evaluate(IReadOnlyList<SeccompRule> rules, SeccompAction defaultAction, Architecture arch, SeccompAction x32Action,
        uint auditArch, uint nr, ReadOnlySpan<ulong> args)
    {
        if (auditArch != arch.AuditArch)
            return Bpf.RetKillProcess;
        if (arch.HasX32Abi && nr >= Bpf.X32SyscallBit)
            return x32Action.ToReturnValue();
        Span<ulong> full = stackalloc ulong[6];
        full.Clear();
        args.CopyTo(full);
        foreach (SeccompRule rule in rules)
        {
            if (rule.Syscall == nr && rule.Matches(full))
                return rule.Action.ToReturnValue();
        }
        return defaultAction.ToReturnValue();
    }
}
