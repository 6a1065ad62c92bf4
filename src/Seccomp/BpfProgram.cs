using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Sandboxrun.Seccomp;

/// <summary>Checks, measures and prints classic BPF seccomp programs.</summary>
public static class BpfProgram
{
    /// <summary>
    /// The checks the kernel makes before it accepts a seccomp program (bpf_check_classic and
    /// seccomp_check_filter), for the instructions this compiler emits: 1..4096 instructions,
    /// loads aligned inside seccomp_data, every jump lands inside the program, the last
    /// instruction returns. Null when the program is acceptable.
    /// </summary>
    public static string? Validate(IReadOnlyList<BpfInstruction> program)
    {
        if (program.Count is 0 or > Bpf.MaxInstructions)
            return $"program has {program.Count} instructions; the kernel accepts 1 to {Bpf.MaxInstructions}";
        for (int pc = 0; pc < program.Count; pc++)
        {
            BpfInstruction ins = program[pc];
            int remaining = program.Count - pc - 1;
            switch (ins.Code)
            {
                case Bpf.LdWAbs:
                    if (ins.K >= Bpf.SeccompDataSize || (ins.K & 3) != 0)
                        return $"{pc}: load offset {ins.K} is outside seccomp_data or unaligned";
                    break;
                case Bpf.AndK:
                case Bpf.RetK:
                    break;
                case Bpf.Ja:
                    if (ins.K >= (uint)remaining)
                        return $"{pc}: ja +{ins.K} leaves the program";
                    break;
                case Bpf.JeqK or Bpf.JgtK or Bpf.JgeK or Bpf.JsetK:
                    if (ins.Jt >= remaining || ins.Jf >= remaining)
                        return $"{pc}: jump +{ins.Jt}/+{ins.Jf} leaves the program";
                    break;
                default:
                    return $"{pc}: opcode 0x{ins.Code:x} is not one this compiler emits";
            }
        }
        return program[^1].Code == Bpf.RetK ? null : "the last instruction does not return";
    }

    /// <summary>
    /// The most instructions any run can execute: every jump goes forward, so the longest path
    /// is found in one backward pass.
    /// </summary>
    public static int MaxDepth(IReadOnlyList<BpfInstruction> program)
    {
        var depth = new int[program.Count];
        for (int pc = program.Count - 1; pc >= 0; pc--)
        {
            BpfInstruction ins = program[pc];
            depth[pc] = 1 + ins.Code switch
            {
                Bpf.RetK => 0,
                Bpf.Ja => depth[pc + 1 + (int)ins.K],
                _ when Bpf.IsConditionalJump(ins.Code) => Math.Max(depth[pc + 1 + ins.Jt], depth[pc + 1 + ins.Jf]),
                _ => depth[pc + 1],
            };
        }
        return program.Count == 0 ? 0 : depth[0];
    }

    /// <summary>The program as the kernel reads it: struct sock_filter[], native (little-endian) byte order.</summary>
    public static byte[] ToBytes(IReadOnlyList<BpfInstruction> program)
    {
        var bytes = new byte[program.Count * 8];
        for (int i = 0; i < program.Count; i++)
        {
            Span<byte> s = bytes.AsSpan(i * 8, 8);
            BinaryPrimitives.WriteUInt16LittleEndian(s, program[i].Code);
            s[2] = program[i].Jt;
            s[3] = program[i].Jf;
            BinaryPrimitives.WriteUInt32LittleEndian(s[4..], program[i].K);
        }
        return bytes;
    }

    public static ImmutableArray<BpfInstruction> FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length % 8 != 0)
            throw new ArgumentException("a sock_filter array is a multiple of 8 bytes", nameof(bytes));
        var program = ImmutableArray.CreateBuilder<BpfInstruction>(bytes.Length / 8);
        for (int i = 0; i < bytes.Length; i += 8)
        {
            program.Add(new BpfInstruction(
                BinaryPrimitives.ReadUInt16LittleEndian(bytes[i..]), bytes[i + 2], bytes[i + 3], BinaryPrimitives.ReadUInt32LittleEndian(bytes[(i + 4)..])));
        }
        return program.MoveToImmutable();
    }

    /// <summary>One line per instruction, jump targets as absolute addresses, loads and returns named.</summary>
    public static string Disassemble(IReadOnlyList<BpfInstruction> program, SyscallTable? names = null)
    {
        var text = new StringBuilder();
        bool nrLoaded = false;
        for (int pc = 0; pc < program.Count; pc++)
        {
            BpfInstruction ins = program[pc];
            string line = ins.Code switch
            {
                Bpf.LdWAbs => $"ld  {FieldName(ins.K)}",
                Bpf.AndK => $"and #0x{ins.K:x}",
                Bpf.Ja => $"ja  {pc + 1 + ins.K:d4}",
                Bpf.RetK => $"ret {ReturnName(ins.K)}",
                _ when Bpf.IsConditionalJump(ins.Code) =>
                    $"{JumpName(ins.Code)} #0x{ins.K:x}{(nrLoaded && names?.Name(ins.K) is string n ? $" ({n})" : "")}, {pc + 1 + ins.Jt:d4}, {pc + 1 + ins.Jf:d4}",
                _ => $"??? code=0x{ins.Code:x} jt={ins.Jt} jf={ins.Jf} k=0x{ins.K:x}",
            };
            if (ins.Code == Bpf.LdWAbs)
                nrLoaded = ins.K == Bpf.OffsetNr;
            text.Append(CultureInfo.InvariantCulture, $"{pc:d4}: {line}\n");
        }
        return text.ToString();
    }

    private static string JumpName(ushort code) => code switch
    {
        Bpf.JeqK => "jeq",
        Bpf.JgtK => "jgt",
        Bpf.JgeK => "jge",
        _ => "jset",
    };

    private static string FieldName(uint offset) => offset switch
    {
        Bpf.OffsetNr => "[nr]",
        Bpf.OffsetArch => "[arch]",
        Bpf.OffsetInstructionPointer => "[ip]",
        Bpf.OffsetInstructionPointer + 4 => "[ip_hi]",
        >= 16 and < Bpf.SeccompDataSize => $"[arg{(offset - 16) / 8}_{((offset & 4) == 0 ? "lo" : "hi")}]",
        _ => $"[{offset}]",
    };

    private static string ReturnName(uint value) =>
        SeccompAction.FromReturnValue(value) is { } action ? action.ToString() : $"0x{value:x8}";
}
