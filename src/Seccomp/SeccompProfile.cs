using System.Collections.Immutable;

namespace Sandboxrun.Seccomp;

/// <param name="Filter">The program to install; null when there is nothing to install (the default
/// profile is off and nothing is blocked) or when there are errors.</param>
/// <param name="Errors">Problems with the request (exit 2).</param>
/// <param name="Notices">Things the user should know that do not stop the run.</param>
/// <param name="Unenforced">Requested behaviour this build cannot provide (the planner refuses or
/// skips it depending on best_effort).</param>
public sealed record SeccompProfileResult(
    CompiledFilter? Filter,
    ImmutableArray<string> Errors,
    ImmutableArray<string> Notices,
    ImmutableArray<string> Unenforced)
{
    /// <summary>With process.seccomp.log: the rules as the policy states them (refusals as errnos),
    /// from which the supervisor answers the program's user notifications. Null when the program
    /// notifies nothing, and then no listener is needed.</summary>
    public SeccompRuleSet? Notified { get; init; }
}

/// <summary>
/// The policy's process.seccomp section -> a compiled filter. The default action of the program
/// is allow; the rules are, in order: the policy's <c>block</c> list (unconditional, so they also
/// replace a default argument filter), then the default profile minus every rule of a syscall the
/// policy's <c>allow</c> list names. Any default rule may be removed that way, argument filters
/// included (allow: [socket] lifts the family restriction); what cannot be removed is the
/// architecture check, which has no name: a foreign ABI (i386 int 0x80) kills the process and an
/// x32 call is refused whenever a filter is installed.
///
/// With <c>log: true</c> every refusal that answers an errno becomes SECCOMP_RET_USER_NOTIF instead:
/// the agent's call waits while the supervisor records it and answers with the same errno, which
/// it computes from <see cref="SeccompProfileResult.Notified"/>. Not notified: clone3's ENOSYS (a
/// redirect libc meets on every thread and fork, not a denial) and killing actions (the kernel
/// kills before anyone could be asked). The agent hands the listener over with sendmsg once the
/// filter is in place, so sendmsg is never notified (it would wait for a supervisor that has no
/// listener yet), and a policy that blocks sendmsg gets no listener at all (reported as unenforced).
/// </summary>
public static class SeccompProfile
{
    /// <param name="deny">What a blocked call gets: Errno(EPERM) for default_action errno,
    /// KillProcess for kill, Log (allowed, and logged by the kernel's audit) for log.</param>
    /// <param name="log">process.seccomp.log: each denial as a sandboxrun audit event; refusals become
    /// SECCOMP_RET_USER_NOTIF, which the supervisor answers (the caller checks that the kernel has it).</param>
    public static SeccompProfileResult Build(bool defaultProfile, IEnumerable<string> block, IEnumerable<string> allow,
        SeccompAction deny, bool log, Architecture? architecture = null)
    {
        var errors = ImmutableArray.CreateBuilder<string>();
        var notices = ImmutableArray.CreateBuilder<string>();
        var unenforced = ImmutableArray.CreateBuilder<string>();
        Architecture? arch = architecture ?? Architecture.Current;
        if (arch is null)
        {
            errors.Add($"no syscall table for {System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture} yet");
            return new(null, errors.ToImmutable(), [], []);
        }

        List<string> blockNames = [.. block.Distinct(StringComparer.Ordinal)];
        List<string> allowNames = [.. allow.Distinct(StringComparer.Ordinal)];
        foreach (string name in blockNames.Concat(allowNames))
        {
            if (arch.Syscalls.Number(name) is null)
                errors.Add(UnknownSyscallMessage(arch.Syscalls, name));
        }
        foreach (string name in blockNames.Intersect(allowNames, StringComparer.Ordinal))
            errors.Add($"'{name}' is in both block and allow");
        if (errors.Count > 0)
            return new(null, errors.ToImmutable(), [], []);

        if (deny.Kind == SeccompActionKind.Log)
            notices.Add("default_action: log lets blocked calls through and only the kernel's audit log records them (type=SECCOMP)");

        var rules = new List<SeccompRule>();
        foreach (string name in blockNames)
            rules.Add(new SeccompRule(arch.Syscalls[name], deny));

        if (defaultProfile)
        {
            var removed = new HashSet<uint>(allowNames.Select(n => arch.Syscalls[n]));
            ImmutableArray<SeccompRule> defaults = DefaultFilter.Rules(deny, arch);
            foreach (string name in allowNames)
            {
                if (!defaults.Any(r => r.Syscall == arch.Syscalls[name]))
                    notices.Add($"allow: '{name}' is not blocked by the default profile; nothing to remove");
            }
            if (allowNames.Contains("clone3") && !allowNames.Contains("clone") && !allowNames.Contains("unshare"))
                notices.Add("allow: clone3 passes its flags in memory, where seccomp cannot read them: the namespace checks on clone and unshare can be bypassed through it");
            rules.AddRange(defaults.Where(r => !removed.Contains(r.Syscall)));
        }
        else
        {
            if (allowNames.Count > 0)
                notices.Add("allow has no effect with default_profile: false");
            if (blockNames.Count == 0)
            {
                notices.Add("default profile turned off by the policy: no seccomp filter");
                return new(null, [], notices.ToImmutable(), unenforced.ToImmutable());
            }
        }

        // x32 calls carry different numbers, so no rule above describes them: refuse them all, with
        // the policy's action when it is kill, else EPERM (log must not let a foreign ABI through).
        SeccompAction x32 = deny.Kind == SeccompActionKind.KillProcess ? deny : SeccompAction.Errno(DefaultFilter.EPERM);
        var stated = new SeccompRuleSet(rules, SeccompAction.Allow, arch, x32);
        SeccompRuleSet installed = stated;
        SeccompRuleSet? notified = null;
        if (log && arch.Syscalls.Number("sendmsg") is uint sendmsg && stated.Rules.Any(r => r.Syscall == sendmsg && r.Action.Kind == SeccompActionKind.Errno))
        {
            // The listener could not reach the supervisor: the filter is installed without one.
            unenforced.Add("process.seccomp.log with sendmsg blocked (the agent hands the seccomp listener to the supervisor with sendmsg once the filter is installed; refusals stay plain errnos and none is recorded)");
        }
        else if (log)
        {
            installed = WithNotifications(stated);
            if (installed.X32Action.Kind == SeccompActionKind.UserNotif || installed.DefaultAction.Kind == SeccompActionKind.UserNotif
                || installed.Rules.Any(r => r.Action.Kind == SeccompActionKind.UserNotif))
                notified = stated;
            if (deny.Kind == SeccompActionKind.KillProcess)
                notices.Add("log: true records nothing with default_action: kill (a killed call cannot be answered by the supervisor; the sandbox's exit status 159 shows a kill)");
            else if (deny.Kind == SeccompActionKind.Log)
                notices.Add("log: true records only refused x32 calls with default_action: log (blocked calls are let through, and only the kernel's audit log sees them)");
        }
        CompileResult compiled = installed.Compile();
        if (compiled.Error is not null)
            errors.Add(compiled.Error);
        return new(compiled.Filter, errors.ToImmutable(), notices.ToImmutable(), unenforced.ToImmutable())
        {
            Notified = compiled.Filter is null ? null : notified,
        };
    }

    /// <summary>
    /// The rules with every errno refusal (rules, the default action, the x32 action) turned into
    /// SECCOMP_RET_USER_NOTIF, except clone3's ENOSYS redirect and sendmsg's rules (see the class
    /// comment); killing, logging and allowing actions stay as they are.
    /// </summary>
    public static SeccompRuleSet WithNotifications(SeccompRuleSet stated)
    {
        SyscallTable table = stated.Architecture.Syscalls;
        uint? sendmsg = table.Number("sendmsg");
        bool Notify(SeccompRule r) => r.Action.Kind == SeccompActionKind.Errno && r.Syscall != sendmsg && !DefaultFilter.IsClone3Redirect(r, table);
        static SeccompAction Notified(SeccompAction a) => a.Kind == SeccompActionKind.Errno ? SeccompAction.UserNotif : a;
        List<SeccompRule> rules = [.. stated.Rules.Select(r => Notify(r) ? r with { Action = SeccompAction.UserNotif } : r)];
        if (sendmsg is uint nr && stated.DefaultAction.Kind == SeccompActionKind.Errno)
            rules.Add(new SeccompRule(nr, stated.DefaultAction)); // what falls through to an errno default stays plain too
        return new SeccompRuleSet(rules, Notified(stated.DefaultAction), stated.Architecture, Notified(stated.X32Action));
    }

    /// <summary>"unknown syscall 'ptrce' (did you mean 'ptrace'?)".</summary>
    public static string UnknownSyscallMessage(SyscallTable table, string name)
    {
        ImmutableArray<string> close = table.Suggest(name);
        string hint = close.Length switch
        {
            0 => "",
            1 => $" (did you mean '{close[0]}'?)",
            _ => $" (did you mean {string.Join(", ", close.Take(close.Length - 1).Select(c => $"'{c}'"))} or '{close[^1]}'?)",
        };
        return $"unknown syscall '{name}'{hint}";
    }
}
