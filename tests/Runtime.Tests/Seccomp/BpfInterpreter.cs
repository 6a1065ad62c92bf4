using Xunit;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Tests.Seccomp;

/// <summary>Runs a classic BPF seccomp program over a seccomp_data, as the kernel does (for the instructions we emit).</summary>
public static class BpfInterpreter
{
    public static uint Run(IReadOnlyList<BpfInstruction> program, uint arch, uint nr, params ulong[] args)
    {
        var data = new byte[64];
        BitConverter.TryWriteBytes(data.AsSpan(0), nr);
        BitConverter.TryWriteBytes(data.AsSpan(4), arch);
        for (int i = 0; i < args.Length; i++)
            BitConverter.TryWriteBytes(data.AsSpan(16 + (8 * i)), args[i]);
        uint a = 0;
        for (int pc = 0; pc < program.Count; pc++)
        {
            BpfInstruction ins = program[pc];
            switch (ins.Code)
            {
                case Bpf.LdWAbs:
                    if (ins.K > 60 || ins.K % 4 != 0)
                        throw new InvalidOperationException($"bad load offset {ins.K} at {pc}");
                    a = BitConverter.ToUInt32(data, (int)ins.K);
                    break;
                case Bpf.AndK:
                    a &= ins.K;
                    break;
                case Bpf.JeqK:
                    pc += a == ins.K ? ins.Jt : ins.Jf;
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
