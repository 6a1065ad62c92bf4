namespace Sandboxrun.Seccomp;

/// <summary>One classic BPF instruction (struct sock_filter).</summary>
public readonly record struct BpfInstruction(ushort Code, byte Jt, byte Jf, uint K);

/// <summary>Classic BPF opcodes and seccomp constants (linux/filter.h, linux/seccomp.h, linux/audit.h).</summary>
public static class Bpf
{
    public const ushort LdWAbs = 0x20;   // BPF_LD | BPF_W | BPF_ABS
    public const ushort JeqK = 0x15;     // BPF_JMP | BPF_JEQ | BPF_K
    public const ushort JsetK = 0x45;    // BPF_JMP | BPF_JSET | BPF_K
    public const ushort Ja = 0x05;       // BPF_JMP | BPF_JA
    public const ushort AndK = 0x54;     // BPF_ALU | BPF_AND | BPF_K
    public const ushort RetK = 0x06;     // BPF_RET | BPF_K

    public const uint RetAllow = 0x7fff0000;
    public const uint RetKillProcess = 0x80000000;
    public const uint RetErrnoBase = 0x00050000;

    public static uint RetErrno(int errno) => RetErrnoBase | ((uint)errno & 0xffff);

    public const uint AuditArchX86_64 = 0xC000003E;
    public const uint X32SyscallBit = 0x40000000;

    // struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }
    public const uint OffsetNr = 0;
    public const uint OffsetArch = 4;

    /// <summary>Offset of the low 32 bits of argument <paramref name="i"/> (little-endian).</summary>
    public static uint OffsetArgLow(int i) => 16 + (8 * (uint)i);
}

/// <summary>
/// Emits a straight-line program with forward jumps to named labels, resolved on Build().
/// Jumps in classic BPF are 8-bit forward offsets; Build() fails rather than wrap.
/// </summary>
public sealed class BpfAssembler
{
    private readonly List<(ushort Code, uint K, string? Jt, string? Jf)> _code = [];
    private readonly Dictionary<string, int> _labels = new(StringComparer.Ordinal);

    public int Count => _code.Count;

    public BpfAssembler Load(uint offset) => Emit(Bpf.LdWAbs, offset);

    public BpfAssembler And(uint mask) => Emit(Bpf.AndK, mask);

    public BpfAssembler Return(uint action) => Emit(Bpf.RetK, action);

    /// <summary>If A == k jump to <paramref name="ifTrue"/>, else to <paramref name="ifFalse"/> (null: next).</summary>
    public BpfAssembler JumpIfEqual(uint k, string? ifTrue, string? ifFalse = null) => Emit(Bpf.JeqK, k, ifTrue, ifFalse);

    /// <summary>If (A &amp; k) != 0 jump to <paramref name="ifTrue"/>, else to <paramref name="ifFalse"/> (null: next).</summary>
    public BpfAssembler JumpIfAnySet(uint k, string? ifTrue, string? ifFalse = null) => Emit(Bpf.JsetK, k, ifTrue, ifFalse);

    public BpfAssembler Jump(string label) => Emit(Bpf.Ja, 0, label, null);

    public BpfAssembler Label(string name)
    {
        if (!_labels.TryAdd(name, _code.Count))
            throw new InvalidOperationException($"label {name} defined twice");
        return this;
    }

    private BpfAssembler Emit(ushort code, uint k, string? jt = null, string? jf = null)
    {
        _code.Add((code, k, jt, jf));
        return this;
    }

    public BpfInstruction[] Build()
    {
        var program = new BpfInstruction[_code.Count];
        for (int i = 0; i < _code.Count; i++)
        {
            (ushort code, uint k, string? jt, string? jf) = _code[i];
            if (code == Bpf.Ja)
                program[i] = new BpfInstruction(code, 0, 0, (uint)Offset(i, jt!, 0xFFFF));
            else
                program[i] = new BpfInstruction(code, (byte)Offset(i, jt, 255), (byte)Offset(i, jf, 255), k);
        }
        return program;
    }

    private int Offset(int from, string? label, int max)
    {
        if (label is null)
            return 0;
        if (!_labels.TryGetValue(label, out int to))
            throw new InvalidOperationException($"undefined label {label}");
        int offset = to - from - 1;
        if (offset < 0 || offset > max)
            throw new InvalidOperationException($"jump from {from} to {label} ({offset}) out of range");
        return offset;
    }
}
