using System.Collections.Immutable;
using System.Globalization;

namespace Sandboxrun.Seccomp;

public enum SeccompActionKind
{
    Allow,
    Errno,
    KillProcess,
    KillThread,
    Log,
    Trap,
    UserNotif,
}

/// <summary>
/// What a filter returns for a call. <see cref="Data"/> is the errno for <see cref="SeccompActionKind.Errno"/>
/// and the si_errno value of the SIGSYS for <see cref="SeccompActionKind.Trap"/>; the kernel clamps an errno
/// above MAX_ERRNO (4095) to 4095, so larger values are refused here.
/// </summary>
public readonly record struct SeccompAction
{
    private SeccompAction(SeccompActionKind kind, ushort data)
    {
        Kind = kind;
        Data = data;
    }

    public SeccompActionKind Kind { get; }

    public ushort Data { get; }

    public const int MaxErrno = 4095;

    public static SeccompAction Allow => new(SeccompActionKind.Allow, 0);

    public static SeccompAction KillProcess => new(SeccompActionKind.KillProcess, 0);

    public static SeccompAction KillThread => new(SeccompActionKind.KillThread, 0);

    public static SeccompAction Log => new(SeccompActionKind.Log, 0);

    public static SeccompAction UserNotif => new(SeccompActionKind.UserNotif, 0);

    public static SeccompAction Trap(ushort data = 0) => new(SeccompActionKind.Trap, data);

    public static SeccompAction Errno(int errno) =>
        errno is >= 0 and <= MaxErrno
            ? new(SeccompActionKind.Errno, (ushort)errno)
            : throw new ArgumentOutOfRangeException(nameof(errno), errno, "errno must be in [0, 4095] (MAX_ERRNO)");

    /// <summary>The SECCOMP_RET_* value a BPF program returns for this action.</summary>
    public uint ToReturnValue() => Kind switch
    {
        SeccompActionKind.Allow => Bpf.RetAllow,
        SeccompActionKind.Errno => Bpf.RetErrnoBase | Data,
        SeccompActionKind.KillProcess => Bpf.RetKillProcess,
        SeccompActionKind.KillThread => Bpf.RetKillThread,
        SeccompActionKind.Log => Bpf.RetLog,
        SeccompActionKind.Trap => Bpf.RetTrap | Data,
        SeccompActionKind.UserNotif => Bpf.RetUserNotif,
        _ => throw new ArgumentOutOfRangeException(nameof(Kind)),
    };

    /// <summary>The action of a return value, as seccomp_run_filters reads it (SECCOMP_RET_ACTION_FULL, then data).</summary>
    public static SeccompAction? FromReturnValue(uint value) => (value & Bpf.RetActionFull) switch
    {
        Bpf.RetAllow => Allow,
        Bpf.RetErrnoBase => Errno(Math.Min((int)(value & Bpf.RetData), MaxErrno)),
        Bpf.RetKillProcess => KillProcess,
        Bpf.RetKillThread => KillThread,
        Bpf.RetLog => Log,
        Bpf.RetTrap => Trap((ushort)(value & Bpf.RetData)),
        Bpf.RetUserNotif => UserNotif,
        _ => null,
    };

    public override string ToString() => Kind switch
    {
        SeccompActionKind.Errno => $"errno({Data.ToString(CultureInfo.InvariantCulture)})",
        SeccompActionKind.Trap => $"trap({Data.ToString(CultureInfo.InvariantCulture)})",
        SeccompActionKind.Allow => "allow",
        SeccompActionKind.KillProcess => "kill_process",
        SeccompActionKind.KillThread => "kill_thread",
        SeccompActionKind.Log => "log",
        SeccompActionKind.UserNotif => "user_notif",
        _ => Kind.ToString(),
    };
}

/// <summary>How an argument is compared; every comparison is unsigned and 64 bits wide.</summary>
public enum ArgOp
{
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,

    /// <summary>(arg &amp; Mask) == Value. A mask of 0xffffffff compares the low 32 bits only.</summary>
    MaskedEq,
}

/// <summary>
/// One test on syscall argument <see cref="Arg"/> (0..5). The kernel passes every argument as a
/// 64-bit register value; a callee taking int or unsigned int ignores the high half, so a rule on
/// such an argument should use <see cref="ArgOp.MaskedEq"/> with mask 0xffffffff (a 64-bit Eq can be
/// dodged by setting high bits the kernel never reads: CVE-2019-10063 for ioctl's cmd).
/// </summary>
public readonly record struct ArgCondition(int Arg, ArgOp Op, ulong Value, ulong Mask = ulong.MaxValue)
{
    public const int MaxArgs = 6;

    public static ArgCondition Eq(int arg, ulong value) => new(arg, ArgOp.Eq, value);

    public static ArgCondition Ne(int arg, ulong value) => new(arg, ArgOp.Ne, value);

    public static ArgCondition Lt(int arg, ulong value) => new(arg, ArgOp.Lt, value);

    public static ArgCondition Le(int arg, ulong value) => new(arg, ArgOp.Le, value);

    public static ArgCondition Gt(int arg, ulong value) => new(arg, ArgOp.Gt, value);

    public static ArgCondition Ge(int arg, ulong value) => new(arg, ArgOp.Ge, value);

    public static ArgCondition MaskedEq(int arg, ulong mask, ulong value) => new(arg, ArgOp.MaskedEq, value, mask);

    /// <summary>The low 32 bits equal <paramref name="value"/>: for int and unsigned int arguments.</summary>
    public static ArgCondition Eq32(int arg, uint value) => MaskedEq(arg, 0xffffffff, value);

    /// <summary>The model's meaning of the condition, which the compiled program must reproduce.</summary>
    public bool Matches(ulong arg) => Op switch
    {
        ArgOp.Eq => arg == Value,
        ArgOp.Ne => arg != Value,
        ArgOp.Lt => arg < Value,
        ArgOp.Le => arg <= Value,
        ArgOp.Gt => arg > Value,
        ArgOp.Ge => arg >= Value,
        ArgOp.MaskedEq => (arg & Mask) == Value,
        _ => throw new ArgumentOutOfRangeException(nameof(Op)),
    };

    public override string ToString() => Op == ArgOp.MaskedEq
        ? string.Create(CultureInfo.InvariantCulture, $"(arg{Arg} & 0x{Mask:x}) == 0x{Value:x}")
        : string.Create(CultureInfo.InvariantCulture, $"arg{Arg} {OpText(Op)} 0x{Value:x}");

    private static string OpText(ArgOp op) => op switch
    {
        ArgOp.Eq => "==",
        ArgOp.Ne => "!=",
        ArgOp.Lt => "<",
        ArgOp.Le => "<=",
        ArgOp.Gt => ">",
        ArgOp.Ge => ">=",
        _ => op.ToString(),
    };
}

/// <summary>
/// A rule: when the call is <see cref="Syscall"/> and every condition holds (an AND; none means
/// always), return <see cref="Action"/>. Rules for one syscall are tried in the order given and
/// the first that matches wins; when none matches, the filter's default action applies.
/// </summary>
public sealed record SeccompRule(uint Syscall, SeccompAction Action, ImmutableArray<ArgCondition> Conditions)
{
    public ImmutableArray<ArgCondition> Conditions { get; init; } = Conditions.IsDefault ? [] : Conditions;

    public SeccompRule(uint syscall, SeccompAction action, params ArgCondition[] conditions)
        : this(syscall, action, ImmutableArray.Create(conditions))
    {
    }

    public bool Matches(ReadOnlySpan<ulong> args)
    {
        foreach (ArgCondition c in Conditions)
        {
            if (!c.Matches(args[c.Arg]))
                return false;
        }
        return true;
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Syscall}: {Action}")
        + (Conditions.IsEmpty ? "" : " if " + string.Join(" && ", Conditions));
}
