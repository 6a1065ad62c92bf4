namespace Sandboxrun.Seccomp;

/// <summary>One classic BPF instruction (struct sock_filter: u16 code, u8 jt, u8 jf, u32 k; 8 bytes).</summary>
public readonly record struct BpfInstruction(ushort Code, byte Jt, byte Jf, uint K);

/// <summary>Classic BPF opcodes and seccomp constants (linux/filter.h, linux/bpf_common.h, linux/seccomp.h, linux/audit.h).</summary>
public static class Bpf
{
    public const ushort LdWAbs = 0x20;   // BPF_LD | BPF_W | BPF_ABS: A = *(u32 *)(seccomp_data + k)
    public const ushort AndK = 0x54;     // BPF_ALU | BPF_AND | BPF_K: A &= k
    public const ushort Ja = 0x05;       // BPF_JMP | BPF_JA: pc += k (32-bit offset)
    public const ushort JeqK = 0x15;     // BPF_JMP | BPF_JEQ | BPF_K: pc += (A == k) ? jt : jf
    public const ushort JgtK = 0x25;     // BPF_JMP | BPF_JGT | BPF_K: unsigned A > k
    public const ushort JgeK = 0x35;     // BPF_JMP | BPF_JGE | BPF_K: unsigned A >= k
    public const ushort JsetK = 0x45;    // BPF_JMP | BPF_JSET | BPF_K: (A & k) != 0
    public const ushort RetK = 0x06;     // BPF_RET | BPF_K: return k

    /// <summary>Conditional jumps carry 8-bit forward offsets; anything farther needs a <see cref="Ja"/>.</summary>
    public const int MaxConditionalOffset = 255;

    /// <summary>BPF_MAXINSNS: the kernel refuses longer classic programs (EINVAL).</summary>
    public const int MaxInstructions = 4096;

    public const uint RetKillProcess = 0x80000000; // SECCOMP_RET_KILL_PROCESS (Linux 4.14)
    public const uint RetKillThread = 0x00000000;  // SECCOMP_RET_KILL_THREAD (was RET_KILL)
    public const uint RetTrap = 0x00030000;        // SECCOMP_RET_TRAP: SIGSYS, data in si_errno
    public const uint RetErrnoBase = 0x00050000;   // SECCOMP_RET_ERRNO: data is the errno
    public const uint RetUserNotif = 0x7fc00000;   // SECCOMP_RET_USER_NOTIF (Linux 5.0)
    public const uint RetTrace = 0x7ff00000;       // SECCOMP_RET_TRACE
    public const uint RetLog = 0x7ffc0000;         // SECCOMP_RET_LOG (Linux 4.14): allow and log
    public const uint RetAllow = 0x7fff0000;       // SECCOMP_RET_ALLOW
    public const uint RetActionFull = 0xffff0000;  // SECCOMP_RET_ACTION_FULL
    public const uint RetData = 0x0000ffff;        // SECCOMP_RET_DATA

    public static uint RetErrno(int errno) => RetErrnoBase | ((uint)errno & RetData);

    public const uint AuditArchX86_64 = 0xC000003E;  // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
    public const uint AuditArchI386 = 0x40000003;    // EM_386 | __AUDIT_ARCH_LE
    public const uint AuditArchAarch64 = 0xC00000B7; // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE

    /// <summary>__X32_SYSCALL_BIT: x32 syscalls enter the x86_64 entry point with this bit set in nr.</summary>
    public const uint X32SyscallBit = 0x40000000;

    // struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; } (64 bytes)
    public const uint OffsetNr = 0;
    public const uint OffsetArch = 4;
    public const uint OffsetInstructionPointer = 8;
    public const uint SeccompDataSize = 64;

    /// <summary>Offset of the low 32 bits of argument <paramref name="i"/> (both supported ABIs are little-endian).</summary>
    public static uint OffsetArgLow(int i) => 16 + (8 * (uint)i);

    /// <summary>Offset of the high 32 bits of argument <paramref name="i"/>.</summary>
    public static uint OffsetArgHigh(int i) => 20 + (8 * (uint)i);

    public static bool IsConditionalJump(ushort code) => code is JeqK or JgtK or JgeK or JsetK;
}
