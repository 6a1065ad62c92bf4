using System.Runtime.InteropServices;
using Sandboxrun.Interop;
using Sandboxrun.Netns.Identity;
using Sandboxrun.Plan;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Launch;

/// <summary>How a launch ended: the exit status sandboxrun returns and, for setup failures, why.</summary>
internal readonly record struct LaunchResult(int ExitCode, string? Error)
{
    public bool SetupFailed => Error is not null;
}

/// <summary>
/// Starts a sandbox from a plan. The numbered steps match the sequence drawn in Native/stage.c:
///   [1] clone3 through the native stage (the child never returns into managed code)
///   [2] write the child's id maps, then release it with one byte on the sync pipe
///   [3a] process.seccomp.log: receive the filter's listener from the agent and answer its
///        notifications on a thread of their own until the sandbox has exited
///   [3] read the error pipe: a (step, errno) report, or EOF once the agent has exec'd
///   [4] wait for pid 1 through its pidfd; its status is the agent's
/// Must be called on a thread that outlives the sandbox: PR_SET_PDEATHSIG fires when the
/// thread that cloned the child exits, not the process (prctl(2)).
/// </summary>
internal sealed unsafe class Launcher
{
    private readonly SandboxPlan _plan;
    private readonly Action<string>? _notice;
    private int _pidfd = -1;

    /// <param name="notice">Told, before the agent starts, of anything prepared with a weaker fallback.</param>
    public Launcher(SandboxPlan plan, Action<string>? notice = null) => (_plan, _notice) = (plan, notice);

    /// <summary>The sandbox's pid 1 as the host sees it (0 before start).</summary>
    public int Pid { get; private set; }

    /// <summary>Sends a signal to pid 1, which forwards it to the agent. Returns 0 or errno.</summary>
    public int Signal(int signal) => _pidfd < 0 ? (int)Errno.ESRCH : Interop.Interop.Process.SendSignal(_pidfd, signal);

    /// <summary>Starts the sandbox and waits for it to end.</summary>
    public LaunchResult Run(int ptySlave = -1, Action? started = null)
    {
        int[] detached = PrepareDetachedMounts();
        try
        {
            return RunWith(detached, ptySlave, started);
        }
        finally
        {
            foreach (int fd in detached)
                Interop.Interop.Files.Close(fd);
        }
    }

    /// <summary>
    /// Idmapped copies of host trees (the working directory when root runs the agent as
    /// `sandbox`): only the initial user namespace may idmap a host filesystem, so the
    /// supervisor makes them and the child attaches them with move_mount.
    /// </summary>
    private int[] PrepareDetachedMounts()
    {
        var fds = new int[_plan.DetachedMounts.Length];
        for (int i = 0; i < fds.Length; i++)
        {
            DetachedMount m = _plan.DetachedMounts[i];
            fds[i] = -1;
            int holderPidfd;
            int holder = NativeStage.SpawnUserNamespaceHolder(&holderPidfd);
            if (holder < 0)
            {
                Fallback($"idmapped mount of {m.HostPath}: user namespace: {ErrnoText.Describe(-holder)}");
                continue;
            }
            try
            {
                string proc = $"/proc/{holder}/";
                int err = Interop.Interop.Files.WriteProcFile(proc + "uid_map", m.UidMap);
                if (err == 0)
                    err = Interop.Interop.Files.WriteProcFile(proc + "gid_map", m.GidMap);
                int nsFd = err == 0 ? Interop.Interop.Files.OpenReadOnly(proc + "ns/user") : -err;
                if (nsFd < 0)
                {
                    Fallback($"idmapped mount of {m.HostPath}: id maps: {ErrnoText.Describe(-nsFd)}");
                    continue;
                }
                int fd = Interop.Interop.Mount.OpenIdmappedTree(m.HostPath, nsFd);
                Interop.Interop.Files.Close(nsFd);
                if (fd < 0)
                    Fallback($"idmapped mount of {m.HostPath}: {ErrnoText.Describe(-fd)}");
                else
                    fds[i] = fd;
            }
            finally
            {
                Interop.Interop.Process.SendSignal(holderPidfd, 9);
                Interop.Interop.Process.WaitExit(holderPidfd, out _, out _);
                Interop.Interop.Files.Close(holderPidfd);
            }
        }
        return fds;
    }

    private void Fallback(string message) => _notice?.Invoke(message + "; using a plain bind (the agent may lack write access)");

    private LaunchResult RunWith(int[] detached, int ptySlave, Action? started)
    {
        int landlockFd = -1;
        if (_plan.Landlock is { } ll)
        {
            (int fd, string? failed) = Sandboxrun.Landlock.LandlockRuleset.Create(ll);
            if (failed is not null)
                return Failed($"{failed}: {ErrnoText.Describe(-fd)} (hint: Landlock needs Linux 5.13+ with landlock in the lsm= list)");
            landlockFd = fd;
        }
        try
        {
            return RunWith(detached, ptySlave, started, landlockFd);
        }
        finally
        {
            Sandboxrun.Landlock.LandlockRuleset.Close(landlockFd);
        }
    }

    /// <summary>Told of the egress proxy's listener and sock_diag sockets (both from inside the sandbox's netns), before the agent runs.</summary>
    public Action<int, int>? ProxySockets { get; init; }

    /// <summary>
    /// process.seccomp.log: told of every refused call after it was answered, on the notifier's
    /// thread. Notifications are answered whether or not this is set (the agent waits for them).
    /// </summary>
    public Action<SeccompDenial>? SeccompDenied { get; init; }

    private LaunchResult RunWith(int[] detached, int ptySlave, Action? started, int landlockFd)
    {
        bool proxy = _plan.Ops.Any(o => o.Kind == SetupOpKind.ProxyHandoff);
        bool notify = _plan.SeccompNotified is not null && !_plan.Seccomp.IsDefaultOrEmpty;
        int handoffParent = -1, notifyParent = -1;
        var agentStarted = new ManualResetEventSlim();
        _agentStarted = agentStarted;
        try
        {
            if (proxy)
                (handoffParent, _handoffChild) = Interop.Interop.Sockets.SeqPacketPair("the proxy handoff socket");
            if (notify)
                (notifyParent, _notifyChild) = Interop.Interop.Sockets.SeqPacketPair("the seccomp listener socket");
            return RunWith(detached, ptySlave, () =>
            {
                started?.Invoke();
                agentStarted.Set();
            }, landlockFd, handoffParent, notifyParent);
        }
        finally
        {
            // After pid 1 has exited every process of the sandbox is gone, and with it every notification.
            agentStarted.Set();
            _notifier?.Dispose();
            _notifier = null;
            _agentStarted = null;
            agentStarted.Dispose();
            Interop.Interop.Files.Close(handoffParent);
            Interop.Interop.Files.Close(notifyParent);
            CloseHandoffChild();
            CloseNotifyChild();
        }
    }

    private int _handoffChild = -1;
    private int _notifyChild = -1;
    private SeccompNotifier? _notifier;

    /// <summary>Set once the agent has exec'd and <c>started</c> has run (or the launch is over): a
    /// denial is reported after it, so the audit log has the sandbox's start before the agent's
    /// refusals, which it can make right after execve, before this thread reads EOF.</summary>
    private ManualResetEventSlim? _agentStarted;

    private void ReportDenial(SeccompDenial denial)
    {
        _agentStarted?.Wait();
        SeccompDenied!(denial);
    }

    private void CloseHandoffChild()
    {
        Interop.Interop.Files.Close(_handoffChild);
        _handoffChild = -1;
    }

    private void CloseNotifyChild()
    {
        Interop.Interop.Files.Close(_notifyChild);
        _notifyChild = -1;
    }

    private LaunchResult RunWith(int[] detached, int ptySlave, Action? started, int landlockFd, int handoffParent, int notifyParent)
    {
        (int syncRead, int syncWrite) = Interop.Interop.Files.Pipe();
        (int errRead, int errWrite) = Interop.Interop.Files.Pipe();
        int childEndsOpen = 2;
        try
        {
            int pid;
            int pidfd;
            using (var arena = new NativeArena())
            {
                NativePlan* native = BuildNative(arena, detached, landlockFd, _handoffChild, syncRead, syncWrite, errRead, errWrite, ptySlave);
                pid = NativeStage.Spawn(native, &pidfd); // [1]
            }
            if (pid < 0)
                return Failed($"clone3 failed: {ErrnoText.Describe(-pid)}{CloneHint(-pid)}");
            Pid = pid;
            _pidfd = pidfd;

            Interop.Interop.Files.Close(syncRead);
            Interop.Interop.Files.Close(errWrite);
            childEndsOpen = 0;

            string? mapError = WriteIdMaps(pid); // [2]
            if (mapError is null && Interop.Interop.Files.WriteAll(syncWrite, "G"u8) is int werr and not 0)
                mapError = $"releasing the sandbox: {ErrnoText.Describe(werr)}";
            Interop.Interop.Files.Close(syncWrite);
            syncWrite = -1;
            if (mapError is not null)
            {
                Interop.Interop.Process.SendSignal(pidfd, 9);
                Interop.Interop.Process.WaitExit(pidfd, out _, out _);
                return Failed(mapError);
            }

            if (handoffParent >= 0)
            {
                // The child sends the proxy's sockets while it sets up; no message means it failed
                // (its report follows on the error pipe).
                CloseHandoffChild();
                if (Interop.Interop.Sockets.ReceiveFds(handoffParent, 2) is [int listener, int diag])
                    ProxySockets?.Invoke(listener, diag);
            }

            if (notifyParent >= 0)
            {
                // [3a] The agent sends the listener right after installing the filter and before
                // execve; from then on its refused calls wait for an answer. No message means it
                // failed before (its report follows on the error pipe).
                CloseNotifyChild();
                if (Interop.Interop.Sockets.ReceiveFds(notifyParent, 1) is [int seccompListener])
                {
                    try
                    {
                        _notifier = SeccompDenied is null
                            ? new SeccompNotifier(seccompListener, _plan.SeccompNotified!)
                            : new SeccompNotifier(seccompListener, _plan.SeccompNotified!, ReportDenial, new PeerIdentity(() => []).Sha256);
                    }
                    catch (IOException e)
                    {
                        Interop.Interop.Process.SendSignal(pidfd, 9);
                        Interop.Interop.Process.WaitExit(pidfd, out _, out _);
                        return Failed($"answering seccomp notifications: {e.Message}");
                    }
                    _notifier.Start();
                }
            }

            Span<byte> report = stackalloc byte[sizeof(NativeReport)]; // [3]
            int got = Interop.Interop.Files.ReadFull(errRead, report);
            NativeReport? failure = got == report.Length ? MemoryMarshal.Read<NativeReport>(report) : null;
            if (failure is null)
                started?.Invoke();

            int waitErr = Interop.Interop.Process.WaitExit(pidfd, out int code, out int status); // [4]
            _pidfd = -1;
            Interop.Interop.Files.Close(pidfd);
            if (failure is NativeReport f)
                return Describe(f);
            if (waitErr != 0)
                return Failed($"waiting for the sandbox: {ErrnoText.Describe(waitErr)}");
            // CLD_EXITED = 1: pid 1 exited with the agent's status; killed otherwise (only SIGKILL reaches it).
            return new LaunchResult(code == 1 ? status : 128 + status, null);
        }
        finally
        {
            if (childEndsOpen > 0)
            {
                Interop.Interop.Files.Close(syncRead);
                Interop.Interop.Files.Close(errWrite);
            }
            Interop.Interop.Files.Close(syncWrite);
            Interop.Interop.Files.Close(errRead);
        }
    }

    private string? WriteIdMaps(int pid)
    {
        Identity id = _plan.Identity;
        string proc = $"/proc/{pid}/";
        if (id.DenySetgroups && Interop.Interop.Files.WriteProcFile(proc + "setgroups", "deny") is int e1 and not 0)
            return $"writing {proc}setgroups: {ErrnoText.Describe(e1)}";
        if (Interop.Interop.Files.WriteProcFile(proc + "uid_map", id.UidMap) is int e2 and not 0)
            return $"writing {proc}uid_map ({id.UidMap.Trim().Replace('\n', ',')}): {ErrnoText.Describe(e2)}";
        if (Interop.Interop.Files.WriteProcFile(proc + "gid_map", id.GidMap) is int e3 and not 0)
            return $"writing {proc}gid_map ({id.GidMap.Trim().Replace('\n', ',')}): {ErrnoText.Describe(e3)}";
        return null;
    }

    private LaunchResult Describe(NativeReport r)
    {
        if (r.Step == (int)StageStep.Exec)
        {
            string cmd = _plan.Exec.File;
            return r.Errno == (int)Errno.ENOENT
                ? new LaunchResult(127, $"{cmd}: command not found")
                : new LaunchResult(126, $"{cmd}: cannot execute: {ErrnoText.Describe(r.Errno)}");
        }
        string step = r.Step >= NativeStage.FirstOpStep && r.Step - NativeStage.FirstOpStep < _plan.Ops.Length
            ? _plan.Ops[r.Step - NativeStage.FirstOpStep].Description
            : ((StageStep)r.Step).ToString();
        return Failed($"setup failed at step '{step}': {ErrnoText.Describe(r.Errno)}{StepHint(r)}");
    }

    private static LaunchResult Failed(string message) => new(125, message);

    private static string CloneHint(int errno) => errno switch
    {
        (int)Errno.EPERM or (int)Errno.ENOSPC or (int)Errno.EUSERS =>
            " (hint: user namespaces may be disabled or exhausted: check /proc/sys/user/max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns)",
        (int)Errno.ENOSYS => " (hint: clone3 needs Linux 5.3+)",
        _ => "",
    };

    private string StepHint(NativeReport r)
    {
        if (r.Step == (int)StageStep.Landlock)
            return " (hint: Landlock needs Linux 5.13+ with landlock in the lsm= list)";
        if (r.Step == (int)StageStep.Seccomp && _plan.SeccompNotified is not null && r.Errno == (int)Errno.EINVAL)
            return " (hint: process.seccomp.log needs SECCOMP_FILTER_FLAG_NEW_LISTENER, Linux 5.0+)";
        if (r.Step >= NativeStage.FirstOpStep && r.Step - NativeStage.FirstOpStep < _plan.Ops.Length)
        {
            SetupOp op = _plan.Ops[r.Step - NativeStage.FirstOpStep];
            if (op.Kind == SetupOpKind.Mount && r.Errno == (int)Errno.EACCES)
                return $" (hint: the sandbox's user cannot reach {op.A}; check the permissions of its parent directories)";
            if (op.Kind is SetupOpKind.Mkdir or SetupOpKind.MkFile && r.Errno == (int)Errno.EROFS)
                return $" (hint: {op.Path} must exist on the host: its parent is bound read-only)";
        }
        return "";
    }

    private NativePlan* BuildNative(NativeArena arena, int[] detached, int landlockFd, int handoffChild, int syncRead, int syncWrite, int errRead, int errWrite, int ptySlave)
    {
        SandboxPlan p = _plan;
        NativePlan* n = arena.Alloc<NativePlan>(1);
        n->CloneFlags = (ulong)p.Namespaces;

        NativeOp* ops = arena.Alloc<NativeOp>(p.Ops.Length);
        for (int i = 0; i < p.Ops.Length; i++)
        {
            SetupOp op = p.Ops[i];
            NativeOp* o = &ops[i];
            o->Kind = (int)op.Kind;
            o->Step = NativeStage.FirstOpStep + i;
            o->OpFlags = (uint)((op.OkIfExists ? NativeOpFlags.OkIfExists : 0) | (op.Optional ? NativeOpFlags.Optional : 0));
            o->Mode = op.Mode;
            o->Flags = op.Kind switch
            {
                SetupOpKind.Mount => (ulong)op.Flags,
                SetupOpKind.SetAttr => op.Recursive ? 0x8000u /* AT_RECURSIVE */ : 0u,
                SetupOpKind.Umount => op.UmountFlags,
                SetupOpKind.ProxyHandoff => (ulong)op.Flags,
                _ => 0,
            };
            o->AttrSet = (ulong)op.AttrSet;
            o->AttrClr = (ulong)op.AttrClear;
            o->Path = arena.Str(op.Path);
            o->A = arena.Str(op.A);
            o->B = arena.Str(op.B);
            o->C = arena.Str(op.C);
            if (!op.Data.IsDefaultOrEmpty)
            {
                o->Data = arena.Bytes(op.Data.AsSpan());
                o->Len = (ulong)op.Data.Length;
            }
            o->Fd = op.Kind switch
            {
                SetupOpKind.LandlockPath => landlockFd,
                SetupOpKind.ProxyHandoff => handoffChild,
                _ => op.DetachedMount >= 0 ? detached[op.DetachedMount] : -1,
            };
        }
        n->Ops = ops;
        n->NOps = (uint)p.Ops.Length;

        NativeRlimit* rl = arena.Alloc<NativeRlimit>(p.Limits.Length);
        for (int i = 0; i < p.Limits.Length; i++)
            rl[i] = new NativeRlimit { Resource = p.Limits[i].Resource, Soft = p.Limits[i].Soft, Hard = p.Limits[i].Hard };
        n->Rlimits = rl;
        n->NRlimits = (uint)p.Limits.Length;

        uint* groups = arena.Alloc<uint>(p.Identity.Groups.Length);
        for (int i = 0; i < p.Identity.Groups.Length; i++)
            groups[i] = p.Identity.Groups[i];
        n->Groups = groups;
        n->NGroups = (uint)p.Identity.Groups.Length;
        n->SetGroups = p.Identity.SetGroups ? 1 : 0;
        n->Uid = p.Identity.Uid;
        n->Gid = p.Identity.Gid;

        if (!p.Seccomp.IsDefaultOrEmpty)
        {
            SeccompInstruction* prog = arena.Alloc<SeccompInstruction>(p.Seccomp.Length);
            for (int i = 0; i < p.Seccomp.Length; i++)
                prog[i] = p.Seccomp[i];
            n->Bpf = prog;
            n->BpfLen = (uint)p.Seccomp.Length;
        }

        n->ExecFile = arena.Str(p.Exec.File);
        n->SearchPath = arena.StrArray(p.Exec.SearchPath);
        n->Argv = arena.StrArray(p.Exec.Argv);
        n->Envp = arena.StrArray([.. p.Exec.Environment.Select(kv => $"{kv.Key}={kv.Value}")]);

        n->LandlockFd = landlockFd;
        n->PtyFd = ptySlave;
        n->PreserveFds = p.PreserveFds;
        n->SyncFd = syncRead;
        n->SyncParentFd = syncWrite;
        n->ErrFd = errWrite;
        n->ErrParentFd = errRead;
        n->NotifyFd = _notifyChild;
        if (detached.Length > 7)
            throw new SandboxSetupException("plan", (int)Errno.E2BIG, "more than 7 detached mounts");
        for (int i = 0; i < 8; i++)
            n->KeepFds[i] = i < detached.Length ? detached[i] : -1;
        n->KeepFds[7] = handoffChild;
        return n;
    }
}
