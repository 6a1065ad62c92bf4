using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Sandboxrun.Probe;

/// <summary>Process, signal and identity probes.</summary>
internal static unsafe class ProcessCommands
{
    private const int SIGTRAP = 5;
    private const int SIGKILL = 9;
    private const int SIGSTOP = 19;

    public static Outcome SetHostname(string name)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(name);
        fixed (byte* text = bytes)
        {
            return Outcome.FromCall(Interop.Proc.SetHostName(text, bytes.Length));
        }
    }

    public static Outcome Kill(int pid, int signal) => Outcome.FromCall(Interop.Signals.Kill(pid, signal));

    /// <summary>ptrace(2): PTRACE_DETACH needs a stopped tracee, so wait for the SIGSTOP that
    /// PTRACE_ATTACH queued. A tracee caught just before execve reports the exec SIGTRAP first; that
    /// one is swallowed (it only exists because of the attach), any other signal is passed on.</summary>
    public static Outcome PtraceAttach(int pid)
    {
        if (Interop.Proc.Ptrace(Interop.Proc.PTRACE_ATTACH, pid, 0, 0) == -1)
        {
            return Outcome.LastError("attach");
        }

        int status;
        int* statusPointer = &status;
        for (int stops = 0; stops < 16; stops++)
        {
            if (Interop.Retry(() => Interop.Proc.WaitPid(pid, statusPointer, Interop.Proc.WALL)) == -1
                || (status & 0xFF) != 0x7F)
            {
                return Outcome.Ok("attached"); // the tracee is gone
            }

            int signal = (status >> 8) & 0xFF;
            if (signal == SIGSTOP)
            {
                break;
            }

            Interop.Proc.Ptrace(Interop.Proc.PTRACE_CONT, pid, 0, signal == SIGTRAP ? 0 : signal);
        }

        Interop.Proc.Ptrace(Interop.Proc.PTRACE_DETACH, pid, 0, 0);
        return Outcome.Ok("attached");
    }

    public static Outcome SetUid(uint uid) =>
        Interop.Proc.SetUid(uid) == -1
            ? Outcome.LastError()
            : Outcome.Ok(FormattableString.Invariant($"uid={Interop.Proc.GetUid()} euid={Interop.Proc.GetEuid()}"));

    /// <summary>
    /// unshare(2) refuses CLONE_NEWUSER with EINVAL in a multithreaded process, and the .NET runtime
    /// always has a second thread. So a clone(CLONE_VM|CLONE_VFORK) child, a thread group of its own,
    /// runs libc's unshare(CLONE_NEWUSER) directly as its entry function: no managed code runs in the
    /// child, the probe's own namespaces stay as they are, and errno comes back through the shared TLS.
    /// </summary>
    public static Outcome UnshareUser()
    {
        var unshare = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(NativeLibrary.GetMainProgramHandle(), "unshare");
        const int StackSize = 64 * 1024;
        byte* stack = (byte*)NativeMemory.AlignedAlloc(StackSize, 16);
        try
        {
            int pid = Interop.Proc.Clone(
                unshare,
                stack + StackSize,
                Interop.Proc.CLONE_VM | Interop.Proc.CLONE_VFORK | Interop.Proc.SIGCHLD,
                Interop.Proc.CLONE_NEWUSER);
            Errno errno = Interop.LastErrno;
            if (pid == -1)
            {
                return Outcome.Fail(errno, "clone");
            }

            int status = WaitForExit(pid);
            return status switch
            {
                0 => Outcome.Ok(),
                _ when errno != Errno.None => Outcome.Fail(errno, "unshare"),
                _ => Outcome.Fail("ECHILD", FormattableString.Invariant($"child status {status}")),
            };
        }
        finally
        {
            NativeMemory.AlignedFree(stack);
        }
    }

    public static Outcome Exec(string path, string[] arguments)
    {
        using var argv = new NativeStringArray([path, .. arguments]);
        using var envp = new NativeStringArray(Native.EnvironmentBlock());
        Interop.Retry(() => Interop.Proc.Execve(path, argv.Pointer, envp.Pointer));
        return Outcome.LastError();
    }

    /// <summary>Resets the disposition first (the runtime may own a handler, e.g. SIGSEGV) and unblocks
    /// the signal in this thread; raise(3) then delivers it to this thread.</summary>
    public static Outcome SignalSelf(int signal)
    {
        if (Interop.Signals.Signal(signal, Interop.Signals.SIG_DFL) == -1 && signal is not (SIGKILL or SIGSTOP))
        {
            return Outcome.LastError("signal");
        }

        Interop.Signals.SigSet set = Interop.Signals.SigSet.Of(signal);
        Interop.Signals.PthreadSigMask(Interop.Signals.SIG_UNBLOCK, &set, null);
        if (Interop.Signals.Raise(signal) != 0)
        {
            return Outcome.LastError("raise");
        }

        // Still here: the default action of this signal is to ignore (CHLD, URG, WINCH) or it stopped us.
        return Outcome.Fail("SURVIVED", signal.ToString(CultureInfo.InvariantCulture));
    }

    public static Outcome Sleep(double seconds)
    {
        NanoSleep(seconds);
        return Outcome.Ok();
    }

    /// <summary>
    /// Blocking the signal and calling sigtimedwait is not enough here: the runtime's other thread does
    /// not block it, so a signal arriving before the wait starts would take its default action there.
    /// PosixSignalRegistration installs a process-wide handler (any raw signal number is accepted) that
    /// hands the signal to a runtime thread; "ready" is printed only once it is in place.
    /// An inherited SIG_IGN (a shell's background job ignores INT and QUIT) would make the runtime
    /// leave the signal alone, and an inherited blocked mask would hold it back, so both are reset
    /// first; an inherited SIG_IGN is reported on an extra line.
    /// </summary>
    public static Outcome WaitSignal(int signal, double seconds)
    {
        if (Interop.Signals.Signal(signal, Interop.Signals.SIG_DFL) == Interop.Signals.SIG_IGN)
        {
            Out.Line(FormattableString.Invariant($"inherited SIG_IGN for {signal}, reset"));
        }

        Interop.Signals.SigSet set = Interop.Signals.SigSet.Of(signal);
        Interop.Signals.PthreadSigMask(Interop.Signals.SIG_UNBLOCK, &set, null);

        using var received = new ManualResetEventSlim();
        PosixSignalRegistration registration;
        try
        {
            registration = PosixSignalRegistration.Create((PosixSignal)signal, context =>
            {
                context.Cancel = true;
                received.Set();
            });
        }
        catch (Exception e) when (e is ArgumentException or PlatformNotSupportedException or IOException or System.ComponentModel.Win32Exception)
        {
            return Outcome.Fail(Errno.EINVAL, $"cannot handle signal {signal}: {e.Message}");
        }

        using (registration)
        {
            Out.Line("ready");
            return received.Wait(TimeSpan.FromSeconds(seconds))
                ? Outcome.Ok(FormattableString.Invariant($"got {signal}"))
                : Outcome.Fail(Errno.ETIMEDOUT);
        }
    }

    /// <summary>
    /// Makes <paramref name="count"/> orphans, then counts zombies. Each orphan is a `probe sleep 0.1`
    /// whose parent (`probe orphan-parent`) exits at once, so it is reparented to the sandbox's init
    /// (or nearest subreaper) and exits there; an init that does not reap leaves it a zombie.
    /// The probe re-executes itself so the sandbox needs no /bin/sh.
    /// </summary>
    public static Outcome Orphans(int count)
    {
        for (int i = 0; i < count; i++)
        {
            int spawnError = Spawn(["probe", "orphan-parent", "0.1"], closeStdout: false, out int pid);
            if (spawnError != 0)
            {
                return Outcome.Fail((Errno)spawnError, "posix_spawn");
            }

            int status = WaitForExit(pid);
            if (status != 0)
            {
                return Outcome.Fail("ECHILD", FormattableString.Invariant($"orphan-parent status {status}"));
            }
        }

        NanoSleep(0.6);
        return InfoCommands.Zombies();
    }

    /// <summary>Helper for <see cref="Orphans"/>: starts `probe sleep SECONDS` (stdout closed so it
    /// prints nothing) and exits without waiting for it. Silent on success.</summary>
    public static Outcome OrphanParent(double seconds)
    {
        int spawnError = Spawn(["probe", "sleep", seconds.ToString(CultureInfo.InvariantCulture)], closeStdout: true, out _);
        return spawnError == 0 ? Outcome.Silent(0) : Outcome.Fail((Errno)spawnError, "posix_spawn");
    }

    /// <summary>The probe's own path as this mount namespace sees it (so the children are named "probe"
    /// in /proc/PID/stat), else the /proc/self/exe link.</summary>
    private static string SelfPath => Environment.ProcessPath is { } path && File.Exists(path) ? path : "/proc/self/exe";

    /// <summary>posix_spawn of this same binary; returns the error number (0 on success).</summary>
    private static int Spawn(string[] argv, bool closeStdout, out int pid)
    {
        using var nativeArgv = new NativeStringArray(argv);
        using var envp = new NativeStringArray(Native.EnvironmentBlock());
        nint fileActions = (nint)NativeMemory.AllocZeroed(Interop.Proc.FileActionsSize);
        try
        {
            Interop.Proc.FileActionsInit(fileActions);
            if (closeStdout)
            {
                Interop.Proc.FileActionsAddClose(fileActions, 1);
            }

            int child;
            int error = Interop.Proc.PosixSpawn(&child, SelfPath, fileActions, 0, nativeArgv.Pointer, envp.Pointer);
            Interop.Proc.FileActionsDestroy(fileActions);
            pid = child;
            return error;
        }
        finally
        {
            NativeMemory.Free((void*)fileActions);
        }
    }

    /// <summary>waitpid until exit; returns the exit code, or 128 + signal for a killed child.</summary>
    private static int WaitForExit(int pid)
    {
        int status;
        int* statusPointer = &status;
        if (Interop.Retry(() => Interop.Proc.WaitPid(pid, statusPointer, 0)) == -1)
        {
            return -1;
        }

        return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F);
    }

    private static void NanoSleep(double seconds)
    {
        var request = new Interop.Timespec
        {
            Seconds = (long)seconds,
            Nanoseconds = (long)((seconds - Math.Floor(seconds)) * 1e9),
        };
        Interop.Timespec remaining;
        while (Interop.Proc.NanoSleep(&request, &remaining) == -1 && Interop.LastErrno == Errno.EINTR)
        {
            request = remaining;
        }
    }
}
