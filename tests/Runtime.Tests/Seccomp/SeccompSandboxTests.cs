using Xunit;
using System.Globalization;
using Sandboxrun.Seccomp;
using Sandboxrun.Tests.Infrastructure;

namespace Sandboxrun.Tests.Seccomp;

/// <summary>
/// The filter on the real kernel, checked from inside sandboxes by the probe. Each refused call
/// is made with arguments that make it fail harmlessly when allowed (bubblewrap's try-syscall):
/// with the profile turned off the same call fails otherwise (EBADF, EFAULT, EINVAL...), so the
/// EPERM comes from the filter. Calls the kernel refuses with EPERM anyway (no capabilities) are
/// proven under default_action: kill instead, where only the filter can kill the probe.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class SeccompSandboxTests(SandboxFixture f)
{
    private const int KilledBySigsys = 128 + 31;

    /// <summary>(name of the case, syscall, arguments, outcome without the filter or null when that is EPERM as well).</summary>
    private static TheoryData<string, string, string[], string?> Cases => new()
    {
        { "ptrace", "ptrace", ["7", "2147483647"], "err ESRCH" },                    // PTRACE_CONT to no such pid
        { "process_vm_readv", "process_vm_readv", ["2147483647", "0", "0", "0", "0", "1"], "err EINVAL" }, // flags must be 0
        { "process_vm_writev", "process_vm_writev", ["2147483647", "0", "0", "0", "0", "1"], "err EINVAL" },
        { "kexec_load", "kexec_load", ["0", "0", "0", "0"], null },
        { "kexec_file_load", "kexec_file_load", ["-1", "-1", "0", "0", "0"], null },
        { "init_module", "init_module", ["0", "0", "0"], null },
        { "finit_module", "finit_module", ["-1", "0", "0"], null },
        { "delete_module", "delete_module", ["0", "0"], null },
        { "bpf", "bpf", ["-1", "0", "0"], null },                                    // EPERM when unprivileged_bpf_disabled
        { "perf_event_open", "perf_event_open", ["0", "0", "-1", "-1", "0x100"], "err EINVAL" }, // unknown flag
        { "userfaultfd", "userfaultfd", ["3"], "err EINVAL" },                         // USER_MODE_ONLY | a bad flag
        { "io_uring_setup", "io_uring_setup", ["0", "0"], "err EFAULT" },
        { "io_uring_enter", "io_uring_enter", ["-1", "0", "0", "0", "0", "0"], "err EBADF" },
        { "io_uring_register", "io_uring_register", ["-1", "0", "0", "0"], "!EPERM" },
        { "keyctl", "keyctl", ["0xffff", "0", "0", "0", "0"], "err EOPNOTSUPP" },
        { "add_key", "add_key", ["0", "0", "0", "0", "0"], "err EFAULT" },
        { "request_key", "request_key", ["0", "0", "0", "0"], "err EFAULT" },
        { "mount", "mount", ["0", "0", "0", "0", "0"], "err EFAULT" },
        { "umount2", "umount2", ["0", "0x100"], "err EINVAL" },
        { "pivot_root", "pivot_root", ["0", "0"], null },
        { "move_mount", "move_mount", ["-1", "0", "-1", "0", "0x4000000"], null },
        { "open_tree", "open_tree", ["-1", "0", "0x4"], "err EINVAL" },
        { "open_tree_attr", "open_tree_attr", ["-1", "0", "0x4", "0", "0"], "!EPERM" },
        { "fsopen", "fsopen", ["0", "0x4"], null },
        { "fsconfig", "fsconfig", ["-1", "0", "0", "0", "0"], "!EPERM" },
        { "fsmount", "fsmount", ["-1", "0x4", "0"], null },
        { "fspick", "fspick", ["-1", "0", "0x100000"], null },
        { "mount_setattr", "mount_setattr", ["-1", "0", "0x4", "0", "0"], "err EINVAL" },
        { "swapon", "swapon", ["0", "0x40000000"], "!EPERM" },
        { "swapoff", "swapoff", ["0"], null },
        { "reboot", "reboot", ["0", "0", "0", "0"], null },
        { "acct", "acct", ["1"], null },
        { "settimeofday", "settimeofday", ["1", "0"], "err EFAULT" },
        { "clock_settime", "clock_settime", ["100", "0"], "err EINVAL" },
        { "adjtimex", "adjtimex", ["0"], "err EFAULT" },
        { "clock_adjtime", "clock_adjtime", ["100", "0"], "!EPERM" },
        { "syslog", "syslog", ["10", "0", "0"], null },                              // SIZE_BUFFER; EPERM under dmesg_restrict
        { "quotactl", "quotactl", ["0", "0", "0", "0"], "!EPERM" },
        { "quotactl_fd", "quotactl_fd", ["-1", "0", "0", "0"], "err EBADF" },
        { "lookup_dcookie", "lookup_dcookie", ["0", "0", "0"], "!EPERM" },
        { "name_to_handle_at", "name_to_handle_at", ["-1", "0", "0", "0", "0x4"], "err EINVAL" },
        { "open_by_handle_at", "open_by_handle_at", ["-1", "0", "0"], "!EPERM" },
        { "setns", "setns", ["-1", "0"], "err EBADF" },
        { "iopl", "iopl", ["4"], "!EPERM" },
        { "ioperm", "ioperm", ["0", "0", "1"], "!EPERM" },
        { "uselib", "uselib", ["0"], "!EPERM" },
        // Argument filters. clone: CLONE_NEWUSER | CLONE_FS is EINVAL when allowed.
        { "clone NEWUSER", "clone", ["0x10000200", "0", "0", "0", "0"], "err EINVAL" },
        { "unshare NEWUSER", "unshare", ["0x10000000"], "err EINVAL" },              // EINVAL: the probe is multithreaded
        { "unshare NEWNET", "unshare", ["0x40000000"], null },
        { "ioctl TIOCSTI", "ioctl", ["-1", "0x5412", "0"], "err EBADF" },
        { "ioctl TIOCSTI high bits", "ioctl", ["-1", "0x123400005412", "0"], "err EBADF" }, // CVE-2019-10063
        { "ioctl TIOCLINUX", "ioctl", ["-1", "0x541c", "0"], "err EBADF" },
        { "socket AF_PACKET", "socket", ["17", "3", "0"], null },
        { "socket AF_VSOCK", "socket", ["40", "1", "0"], "!EPERM" },
        { "socket AF_BLUETOOTH", "socket", ["31", "1", "0"], "!EPERM" },
        { "socket NETLINK_AUDIT", "socket", ["16", "3", "9"], "!EPERM" },
        { "socket SOCK_RAW", "socket", ["2", "3", "1"], null },
        { "socket INET SOCK_PACKET", "socket", ["2", "10", "768"], null },
        { "socket INET6 SOCK_RAW|CLOEXEC", "socket", ["10", "0x80003", "58"], null },
        { "personality READ_IMPLIES_EXEC", "personality", ["0x400000"], "ok 0" },
    };

    /// <summary>Every case, as root and rootless (<see cref="SandboxFixture.Modes"/>).</summary>
    public static TheoryData<string, string, string[], string?, bool> Refused => Rows(anotherOutcomeOnly: false);

    /// <summary>The cases whose call fails otherwise without the filter, as root and rootless.</summary>
    public static TheoryData<string, string, string[], string?, bool> RefusedWithAnotherOutcome => Rows(anotherOutcomeOnly: true);

    private static TheoryData<string, string, string[], string?, bool> Rows(bool anotherOutcomeOnly)
    {
        var data = new TheoryData<string, string, string[], string?, bool>();
        foreach (bool rootless in SandboxFixture.Modes)
        {
            foreach (object?[] row in Cases)
            {
                if (!anotherOutcomeOnly || row[3] is not null)
                    data.Add((string)row[0]!, (string)row[1]!, (string[])row[2]!, (string?)row[3], rootless);
            }
        }
        return data;
    }

    public static TheoryData<bool> Modes => SandboxFixture.Modes;

    private string Policy(string seccomp)
    {
        string path = Path.Combine(f.NewWorkdir(), "policy.yaml");
        File.WriteAllText(path, $"version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only: [/]\nprocess:\n  seccomp: {seccomp}\n");
        return path;
    }

    /// <summary>The probe in a sandbox with the default policy (null) or one whose process.seccomp is <paramref name="seccomp"/>.</summary>
    private ProcessResult Probe(bool rootless, string? seccomp, params string[] args)
    {
        f.SkipRootlessIfUnavailable(rootless);
        return f.RunProbe(seccomp is null ? [] : ["--policy", Policy(seccomp)], args, rootless);
    }

    private static string[] SyscallArgs(string name, string[] args) =>
        ["syscall", SyscallTable.X86_64[name].ToString(CultureInfo.InvariantCulture), .. args];

    [SkippableTheory]
    [MemberData(nameof(Refused))]
    public void DefaultProfileRefusesWithEperm(string label, string name, string[] args, string? withoutFilter, bool rootless)
    {
        _ = withoutFilter;
        ProcessResult r = Probe(rootless, null, SyscallArgs(name, args));
        Assert.True(r.ExitCode == 1 && r.LastLine == "err EPERM", $"{label}: {r}");
    }

    /// <summary>The calls the kernel refuses with EPERM anyway (no capabilities) are left out here;
    /// <see cref="KillActionShowsEveryRuleFires"/> covers them.</summary>
    [SkippableTheory]
    [MemberData(nameof(RefusedWithAnotherOutcome))]
    public void WithoutTheProfileTheSameCallFailsOtherwise(string label, string name, string[] args, string? withoutFilter, bool rootless)
    {
        ProcessResult r = Probe(rootless, "{ default_profile: false }", SyscallArgs(name, args));
        if (withoutFilter == "!EPERM")
            Assert.True(r.LastLine != "err EPERM" && (r.LastLine.StartsWith("err ", StringComparison.Ordinal) || r.LastLine.StartsWith("ok ", StringComparison.Ordinal)), $"{label}: {r}");
        else
            Assert.True(r.LastLine == withoutFilter, $"{label}: expected '{withoutFilter}' without the filter: {r}");
    }

    /// <summary>Under default_action: kill only the filter can kill the probe with SIGSYS, so every
    /// rule is shown to fire, including those whose calls the kernel would refuse anyway.</summary>
    [SkippableTheory]
    [MemberData(nameof(Refused))]
    public void KillActionShowsEveryRuleFires(string label, string name, string[] args, string? withoutFilter, bool rootless)
    {
        _ = withoutFilter;
        ProcessResult r = Probe(rootless, "{ default_action: kill }", SyscallArgs(name, args));
        Assert.True(r.ExitCode == KilledBySigsys, $"{label}: {r}");
        Assert.DoesNotMatch("^(ok|err)", r.LastLine);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void Clone3IsEnosysSoLibcFallsBack(bool rootless)
    {
        Assert.Equal("err ENOSYS", Probe(rootless, null, SyscallArgs("clone3", ["0", "0"])).LastLine);
        Assert.Equal("err ENOSYS", Probe(rootless, "{ default_action: kill }", SyscallArgs("clone3", ["0", "0"])).LastLine); // not a denial
        Assert.Equal("err EINVAL", Probe(rootless, "{ default_profile: false }", SyscallArgs("clone3", ["0", "0"])).LastLine);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void AllowedFormsOfFilteredCallsPass(bool rootless)
    {
        Assert.StartsWith("ok ", Probe(rootless, null, SyscallArgs("socket", ["1", "1", "0"])).LastLine, StringComparison.Ordinal);        // AF_UNIX
        Assert.StartsWith("ok ", Probe(rootless, null, SyscallArgs("socket", ["2", "0x80801", "0"])).LastLine, StringComparison.Ordinal);  // TCP, CLOEXEC|NONBLOCK
        Assert.StartsWith("ok ", Probe(rootless, null, SyscallArgs("socket", ["10", "2", "0"])).LastLine, StringComparison.Ordinal);       // UDP6
        Assert.StartsWith("ok ", Probe(rootless, null, SyscallArgs("socket", ["16", "3", "0"])).LastLine, StringComparison.Ordinal);       // NETLINK_ROUTE
        Assert.Equal("err EBADF", Probe(rootless, null, SyscallArgs("ioctl", ["-1", "0x5401", "0"])).LastLine);                            // TCGETS
        Assert.StartsWith("ok ", Probe(rootless, null, SyscallArgs("personality", ["0xffffffff"])).LastLine, StringComparison.Ordinal);
        Assert.Equal("err EFAULT", Probe(rootless, null, SyscallArgs("memfd_create", ["0", "0"])).LastLine);                              // NULL name: reached the kernel
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void I386SyscallKillsTheProcess(bool rootless)
    {
        ProcessResult baseline = Probe(rootless, "{ default_profile: false }", "int80", "20"); // i386 getpid
        Skip.If(baseline.ExitCode != 0, $"this kernel has no i386 emulation (CONFIG_IA32_EMULATION / ia32_emulation=): {baseline}");
        Assert.StartsWith("ok ", baseline.LastLine, StringComparison.Ordinal);

        ProcessResult r = Probe(rootless, null, "int80", "20");
        Assert.True(r.ExitCode == KilledBySigsys, r.ToString());
        Assert.DoesNotMatch("^(ok|err)", r.LastLine);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void X32SyscallIsRefused(bool rootless)
    {
        ProcessResult baseline = Probe(rootless, "{ default_profile: false }", "x32", "39"); // getpid with __X32_SYSCALL_BIT
        Assert.True(baseline.LastLine is "err ENOSYS" || baseline.LastLine.StartsWith("ok ", StringComparison.Ordinal), baseline.ToString());
        Assert.Equal("err EPERM", Probe(rootless, null, "x32", "39").LastLine);
        Assert.Equal("err EPERM", Probe(rootless, null, "x32", SyscallTable.X86_64["ptrace"].ToString(CultureInfo.InvariantCulture), "7", "2147483647").LastLine);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void UnshareOfAUserNamespaceIsRefused(bool rootless)
    {
        // The probe's own helper runs unshare(CLONE_NEWUSER) in a single-threaded clone child;
        // without the filter the kernel lets the unprivileged agent create one.
        Assert.Equal("ok", Probe(rootless, "{ default_profile: false }", "unshare-user").LastLine);
        Assert.Equal("err EPERM unshare", Probe(rootless, null, "unshare-user").LastLine);
        ProcessResult tool = f.Run(["--", "sh", "-c", "unshare -U true"], rootless);
        Assert.True(tool.ExitCode != 0 && tool.Stderr.Contains("Operation not permitted", StringComparison.Ordinal), tool.ToString());
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void PolicyBlockAllowAndActionReachTheKernel(bool rootless)
    {
        string getppid = SyscallTable.X86_64["getppid"].ToString(CultureInfo.InvariantCulture);
        Assert.StartsWith("ok ", Probe(rootless, null, "syscall", getppid).LastLine, StringComparison.Ordinal);
        Assert.Equal("err EPERM", Probe(rootless, "{ block: [getppid] }", "syscall", getppid).LastLine);
        Assert.Equal("err ESRCH", Probe(rootless, "{ allow: [ptrace] }", SyscallArgs("ptrace", ["7", "2147483647"])).LastLine);
        Assert.Equal("err EPERM", Probe(rootless, "{ allow: [ptrace] }", SyscallArgs("io_uring_setup", ["0", "0"])).LastLine);
        // log: the call goes through (and the kernel's audit records it).
        Assert.Equal("err ESRCH", Probe(rootless, "{ default_action: log }", SyscallArgs("ptrace", ["7", "2147483647"])).LastLine);
    }

    // ---- ordinary workloads run unaffected ----

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void ShellAndCoreutils(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string wd = f.NewWorkdir(forUser: rootless);
        ProcessResult r = f.Run(["--", "sh", "-c",
            "set -e; printf 'b\\na\\n' | sort > sorted; cat sorted; ls / > /dev/null; mkdir d; echo x > d/f; tar -cf t.tar d; rm -r d; tar -xf t.tar; cat d/f; " +
            "sh -c 'echo sub-$$' | cut -c1-4; (sleep 0.1 & wait); echo done"], rootless, wd);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("a\nb\nx\nsub-\ndone\n", r.Stdout);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void Python(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string? python = new[] { "/usr/bin/python3", "/usr/local/bin/python3" }.FirstOrDefault(File.Exists);
        Skip.If(python is null, "no python3 in /usr/bin or /usr/local/bin");
        const string script =
            "import os, socket, subprocess, threading, tempfile, asyncio, multiprocessing\n" +
            "t = threading.Thread(target=lambda: None); t.start(); t.join()\n" +
            "assert subprocess.run(['true']).returncode == 0\n" +
            "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(('127.0.0.1', 0)); s.listen(); s.close()\n" +
            "socket.getaddrinfo('localhost', 80)\n" +
            "with tempfile.TemporaryFile() as f: f.write(b'x')\n" +
            "asyncio.run(asyncio.sleep(0))\n" +
            "with multiprocessing.Pool(2) as p: assert p.map(abs, [-1, -2]) == [1, 2]\n" +
            "fd = os.memfd_create('x'); os.close(fd)\n" +
            "print('python ok')\n";
        ProcessResult r = f.Run(["--", python, "-c", script], rootless, timeout: TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("python ok\n", r.Stdout);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void GitInitAndCommitInTheWorkdir(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        Skip.IfNot(File.Exists("/usr/bin/git"), "git is not installed");
        string wd = f.NewWorkdir(forUser: rootless);
        ProcessResult r = f.Run(["--", "sh", "-c",
            "set -e; git init -q .; echo hi > a.txt; git add a.txt; git -c user.name=t -c user.email=t@example.com commit -qm first; git log --oneline | wc -l"],
            rootless, wd);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("1\n", r.Stdout);
        Assert.True(Directory.Exists(Path.Combine(wd, ".git")));
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void Node(bool rootless)
    {
        f.SkipRootlessIfUnavailable(rootless);
        string? node = new[] { "/usr/bin/node", "/usr/local/bin/node" }.FirstOrDefault(File.Exists);
        Skip.If(node is null, "node is not installed");
        const string script =
            "const fs = require('fs'); const cp = require('child_process'); const net = require('net');" +
            "fs.writeFileSync('n.txt', 'x'); fs.promises.readFile('n.txt').then(b => {" +
            "  if (cp.execSync('echo child').toString() !== 'child\\n') process.exit(3);" +
            "  const srv = net.createServer().listen(0, '127.0.0.1', () => { srv.close(); console.log('node ok'); });" +
            "});";
        ProcessResult r = f.Run(["--", node, "-e", script], rootless, timeout: TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("node ok\n", r.Stdout);
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void DotNetProgram(bool rootless)
    {
        // The probe is a NativeAOT .NET program: threads, the GC, signal handling and spawning itself.
        ProcessResult orphans = Probe(rootless, null, "orphans", "3");
        Assert.True(orphans.ExitCode == 0, orphans.ToString());
        ProcessResult info = Probe(rootless, null, "caps");
        Assert.True(info.ExitCode == 0, info.ToString());
    }
}
