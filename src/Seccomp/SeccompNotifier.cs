using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using static Sandboxrun.Seccomp.Interop.Seccomp;

namespace Sandboxrun.Seccomp;

/// <summary>A refused call that the supervisor answered (process.seccomp.log).</summary>
/// <param name="Pid">The calling thread as the supervisor's pid namespace (the host's) sees it.</param>
/// <param name="Executable">/proc/PID/exe while the call waited; null when it could not be read.</param>
/// <param name="Sha256">The SHA-256 of that file, when a hash function was given and it could be read.</param>
/// <param name="Nr">The number as the program saw it (x32 calls carry <see cref="Bpf.X32SyscallBit"/>).</param>
/// <param name="Syscall">The name in the architecture's table; null for an x32 or unknown number.</param>
/// <param name="Errno">What the call returned (-Errno).</param>
public sealed record SeccompDenial(int Pid, string? Executable, string? Sha256, uint Arch, uint Nr, string? Syscall, ImmutableArray<ulong> Args, int Errno);

/// <summary>
/// Answers the SECCOMP_RET_USER_NOTIF notifications of a filter compiled with notifications
/// (<see cref="SeccompProfile.WithNotifications"/>), on a thread of its own, for as long as a
/// process uses the filter:
/// <code>
///   [1] poll the listener (and the stop eventfd); POLLHUP: no process uses the filter any more
///   [2] SECCOMP_IOCTL_NOTIF_RECV: pid, arch, nr, args (the caller's thread now waits for us)
///   [3] read /proc/PID/exe (path, and an open handle for the hash)
///   [4] SECCOMP_IOCTL_NOTIF_ID_VALID: the caller still waits, so PID was still the caller in [3]
///   [5] errno = the stated rules' action for (arch, nr, args); SECCOMP_IOCTL_NOTIF_SEND {error = -errno}
///   [6] hash the executable, report the denial
/// </code>
/// A notification whose caller was killed or interrupted before [5] (ENOENT) is not reported: its
/// call did not complete with our answer, and a restarted call notifies again. When the loop ends
/// the listener is closed; a call still to be notified then fails with ENOSYS (the kernel's answer
/// when no listener is left), so the agent never waits on an answer that cannot come.
/// </summary>
public sealed unsafe class SeccompNotifier : IDisposable
{
    private const int EINTR = 4, ENOENT = 2, EPERM = 1;

    private readonly FileDescriptorHandle _listener;
    private readonly FileDescriptorHandle _stop;
    private readonly SeccompRuleSet _rules;
    private readonly Action<SeccompDenial>? _denied;
    private readonly Func<SafeFileHandle, string?>? _hash;
    private readonly Thread _thread;
    private long _answered;
    private int _disposed;

    /// <param name="listenerFd">The filter's listener (SECCOMP_FILTER_FLAG_NEW_LISTENER); owned from here on.</param>
    /// <param name="rules">The rules as stated, refusals as errnos: the answer to each notification.</param>
    /// <param name="denied">Told of every answered call, on the notifier's thread after the answer.</param>
    /// <param name="hash">SHA-256 of an open executable (a cache keyed by file identity), or null for none.</param>
    public SeccompNotifier(int listenerFd, SeccompRuleSet rules, Action<SeccompDenial>? denied = null, Func<SafeFileHandle, string?>? hash = null)
    {
        _listener = new FileDescriptorHandle(listenerFd);
        int stop = EventFd();
        if (stop < 0)
        {
            _listener.Dispose();
            throw new IOException($"eventfd: errno {(-stop).ToString(CultureInfo.InvariantCulture)}");
        }
        _stop = new FileDescriptorHandle(stop);
        _rules = rules;
        _denied = denied;
        _hash = hash;
        _thread = new Thread(Run) { IsBackground = true, Name = "seccomp-notify" };
    }

    /// <summary>Notifications answered so far.</summary>
    public long Answered => Interlocked.Read(ref _answered);

    public void Start() => _thread.Start();

    private void Run()
    {
        try
        {
            Loop();
        }
        finally
        {
            _listener.Dispose();
        }
    }

    private void Loop()
    {
        // The kernel refuses a receive buffer that is not zeroed, and its struct may be larger than ours.
        int size = sizeof(SeccompNotif);
        if (NotifSizes(out SeccompNotifSizes sizes) == 0)
            size = Math.Max(size, sizes.Notif);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        // Linux 6.6+: each notification and its answer switch CPUs synchronously (EINVAL before: ignored).
        DangerousIoctl(_listener.Fd, IoctlNotifSetFlags, (void*)NotifFdSyncWakeUp);
        try
        {
            PollFd* fds = stackalloc PollFd[2];
            while (true)
            {
                fds[0] = new PollFd { Fd = _listener.Fd, Events = PollIn }; // [1]
                fds[1] = new PollFd { Fd = _stop.Fd, Events = PollIn };
                int ready = Poll(fds, 2, -1);
                if (ready == -EINTR)
                    continue;
                if (ready < 0 || fds[1].Revents != 0)
                    return;
                if ((fds[0].Revents & PollIn) == 0)
                {
                    if ((fds[0].Revents & (PollHup | PollErr | PollNval)) != 0)
                        return; // every process that used the filter has exited
                    continue;
                }
                NativeMemory.Clear(buffer, (nuint)size);
                int err = DangerousIoctl(_listener.Fd, IoctlNotifRecv, buffer); // [2]
                if (err is EINTR or ENOENT)
                    continue; // ENOENT: the caller was killed or interrupted first
                if (err != 0)
                    return;
                Answer((SeccompNotif*)buffer);
            }
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    private void Answer(SeccompNotif* n)
    {
        var args = ImmutableArray.Create(n->Args[0], n->Args[1], n->Args[2], n->Args[3], n->Args[4], n->Args[5]);
        string? exe = null;
        SafeFileHandle? file = null;
        try
        {
            ulong id = n->Id;
            if (_denied is not null && n->Pid > 0)
            {
                string proc = $"/proc/{n->Pid.ToString(CultureInfo.InvariantCulture)}/exe"; // [3]
                exe = ReadLink(proc);
                if (_hash is not null)
                    file = OpenReadOnly(proc);
                // [4] The pid was the caller's while its call still waits; otherwise it may be recycled.
                if (DangerousIoctl(_listener.Fd, IoctlNotifIdValid, &id) != 0)
                    return;
            }

            // [5] Only calls the stated rules refuse with an errno are notified; anything else would
            // mean the program and the rules disagree (FilterCompilerPropertyTests), and is refused.
            SeccompAction action = _rules.Evaluate(n->Arch, (uint)n->Nr, args.AsSpan());
            int errno = action.Kind == SeccompActionKind.Errno ? action.Data : EPERM;
            var response = new SeccompNotifResp { Id = id, Val = 0, Error = -errno, Flags = 0 };
            int err;
            do
                err = DangerousIoctl(_listener.Fd, IoctlNotifSend, &response);
            while (err == EINTR);
            if (err != 0)
                return; // ENOENT: interrupted or killed meanwhile
            Interlocked.Increment(ref _answered);
            if (_denied is null)
                return;

            string? sha = file is { IsInvalid: false } ? _hash!(file) : null; // [6]
            uint nr = (uint)n->Nr;
            string? name = _rules.Architecture.HasX32Abi && nr >= Bpf.X32SyscallBit ? null : _rules.Architecture.Syscalls.Name(nr);
            try
            {
                _denied(new SeccompDenial((int)n->Pid, exe, sha, n->Arch, nr, name, args, errno));
            }
            catch (IOException)
            {
                // A full disk must not stop the answers.
            }
        }
        finally
        {
            file?.Dispose();
        }
    }

    /// <summary>Stops the loop (pending notifications then fail with ENOSYS) and closes the listener.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        ulong one = 1;
        Write(_stop.Fd, &one, sizeof(ulong));
        if ((_thread.ThreadState & ThreadState.Unstarted) == 0)
            _thread.Join();
        _listener.Dispose();
        _stop.Dispose();
    }
}
