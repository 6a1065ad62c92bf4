using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Sandboxrun.Landlock;
using Sandboxrun.Netns;
using Sandboxrun.Policy;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Plan;

/// <summary>A reason the plan cannot be made: exit 2 (bad command line or policy) or 125 (cannot enforce).</summary>
internal sealed record PlanError(int ExitCode, string Message);

internal sealed record PlanResult(SandboxPlan? Plan, ImmutableArray<PlanError> Errors);

/// <summary>
/// Policy + invocation + host facts -> SandboxPlan. Pure: reads nothing but its arguments,
/// so every decision here is unit-tested without root (STYLE.md, "policy, plan, apply").
/// </summary>
internal static class Planner
{
    /// <summary>The `sandbox` account's id (uid and gid) when the host has no such account.</summary>
    public const uint DefaultSandboxId = 2_000_000;

    public const string DefaultHostname = "sandbox";

    /// <summary>Well-known credential locations under every home directory, always masked.</summary>
    public static readonly ImmutableArray<string> SecretHomePaths =
        [".ssh", ".aws", ".config/gcloud", ".kube", ".docker", ".netrc", ".gnupg"];

    public static readonly ImmutableArray<string> SecretSystemPaths = ["/etc/shadow", "/etc/gshadow"];

    /// <summary>Host trees never shown through a bind of the host root: kernel state and daemon sockets.</summary>
    public static readonly ImmutableArray<string> SystemMasks = ["/sys", "/run"];

    /// <summary>Top-level links of a merged-/usr host (/bin -> usr/bin), recreated on a tmpfs root.</summary>
    private static readonly string[] s_rootLinks = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

    private static readonly string[] s_devices = ["null", "zero", "full", "random", "urandom", "tty"];
    private static readonly string[] s_procReadOnly = ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"];
    private static readonly string[] s_procMasked = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"];
    private static readonly string[] s_passedEnvironment = ["PATH", "HOME", "TERM", "LANG", "USER"];
    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static PlanResult Plan(SandboxPolicy policy, Invocation invocation, HostFacts host)
    {
        var errors = ImmutableArray.CreateBuilder<PlanError>();
        var notices = ImmutableArray.CreateBuilder<Notice>();
        bool bestEffort = policy.Landlock.Compatibility == LandlockCompatibility.BestEffort;

        if (invocation.Command.IsDefaultOrEmpty)
            errors.Add(new PlanError(2, "no command given (usage: sandboxrun [run] [options] -- CMD [ARGS...])"));

        void Unenforced(string layer, string what)
        {
            if (bestEffort)
                notices.Add(new Notice(layer, $"skipped (best_effort): {what}"));
            else
                errors.Add(new PlanError(125, $"{layer}: cannot enforce {what} (set landlock.compatibility: best_effort to run without it)"));
        }

        // Layers that later work enforces; until then they are refused or skipped out loud.
        ResourceLimits limits = policy.Process.Limits;
        // vm.memfd_noexec (what keeps a memfd from running past the execute list) can only be
        // written by host root; a rootless run cannot stop fileless execution of a memfd.
        bool memfdNoExec = policy.Filesystem.Execute is not null && host.IsRoot;
        if (policy.Filesystem.Execute is not null && !host.IsRoot)
            Unenforced("landlock", "filesystem_policy.execute against fileless execution (a memfd run through /proc/self/fd or execveat): vm.memfd_noexec needs root");
        if (limits.MemoryBytes is not null)
            Unenforced("cgroup", "process.limits.memory (needs cgroups)");
        if (limits.Pids is not null)
            Unenforced("cgroup", "process.limits.pids (needs cgroups)");
        if (limits.Cpu is not null)
            Unenforced("cgroup", "process.limits.cpu (needs cgroups)");
        if (policy.Inference is not null && !policy.Inference.Routes.IsEmpty)
            notices.Add(new Notice("network", "inference routes are not served yet: the sandbox has no network at all"));

        ImmutableArray<SeccompInstruction> filter = [];
        SeccompPolicy sc = policy.Process.Seccomp;
        SeccompAction deny = sc.DefaultAction switch
        {
            SeccompDefaultAction.Kill => SeccompAction.KillProcess,
            SeccompDefaultAction.Log => SeccompAction.Log,
            _ => SeccompAction.Errno(DefaultFilter.EPERM),
        };
        // Recording each denial needs the supervisor to answer SECCOMP_RET_USER_NOTIF (Linux 5.0).
        bool seccompLog = sc.Log && host.SeccompUserNotif;
        if (sc.Log && !host.SeccompUserNotif)
            Unenforced("seccomp", "process.seccomp.log (recording each denial needs SECCOMP_RET_USER_NOTIF, Linux 5.0+; refusals still get their errno)");
        SeccompProfileResult seccomp = SeccompProfile.Build(sc.DefaultProfile, sc.Block, sc.Allow, deny, seccompLog);
        foreach (string e in seccomp.Errors)
            errors.Add(new PlanError(2, $"seccomp: {e}"));
        foreach (string u in seccomp.Unenforced)
            Unenforced("seccomp", u);
        foreach (string n in seccomp.Notices)
            notices.Add(new Notice("seccomp", n));
        if (seccomp.Filter is { } compiled)
            filter = [.. compiled.Program.Select(i => new SeccompInstruction(i.Code, i.Jt, i.Jf, i.K))];

        Identity? identity = PlanIdentity(policy.Process, host, errors);
        string workdir = invocation.Workdir;
        if (identity is { Home: "" })
        {
            // An account the host does not know gets the private /tmp (or the working directory) as home.
            bool privateTmp = policy.Filesystem.ReadWrite.Any(p => p.Path == "/tmp");
            identity = identity with { Home = privateTmp ? "/tmp" : policy.Filesystem.IncludeWorkdir ? workdir : "/" };
        }
        if (!workdir.StartsWith('/'))
            errors.Add(new PlanError(2, $"working directory must be absolute: {workdir}"));

        if (errors.Count > 0 || identity is null)
            return new PlanResult(null, errors.ToImmutable());

        LandlockPlanResult landlock = LandlockPlanner.Plan(LandlockRequestFor(policy, workdir, bestEffort), host.LandlockAbi);
        foreach (string e in landlock.Errors)
            errors.Add(new PlanError(125, $"landlock: cannot enforce: {e} (landlock.compatibility is hard_requirement)"));
        foreach (string d in landlock.Dropped)
            notices.Add(new Notice("landlock", $"dropped (best_effort): {d}"));
        ImmutableArray<SetupOp> landlockOps = landlock.Plan is { } ll
            ? [.. ll.PathRules.Select(r => SetupOp.LandlockPath(r.Path, (ulong)r.Access, (ulong)(r.Access & LandlockAbi.FileRights)))]
            : [];

        var mounts = new MountPlanner(policy.Filesystem, host, workdir, invocation.Console, identity, notices, errors) { MemfdNoExec = memfdNoExec };
        bool proxy = !policy.NetworkPolicies.IsEmpty;
        ImmutableArray<SetupOp> ops = mounts.Build(invocation.Name ?? DefaultHostname, landlockOps, proxy);
        if (errors.Count > 0)
            return new PlanResult(null, errors.ToImmutable());

        ImmutableArray<KeyValuePair<string, string>> env = PlanEnvironment(policy, invocation, host, identity, proxy);
        string pathVar = env.FirstOrDefault(kv => kv.Key == "PATH").Value ?? DefaultPath;
        ImmutableArray<string> search = [.. pathVar.Split(':', StringSplitOptions.RemoveEmptyEntries)];

        var resourceLimits = ImmutableArray.CreateBuilder<ResourceLimit>();
        if (limits.NoFile is int nofile)
            resourceLimits.Add(new ResourceLimit(ResourceLimit.NoFile, (ulong)nofile, (ulong)nofile));

        NamespaceFlags ns = NamespaceFlags.User | NamespaceFlags.Mount | NamespaceFlags.Pid | NamespaceFlags.Net
            | NamespaceFlags.Ipc | NamespaceFlags.Uts | NamespaceFlags.Cgroup;

        var plan = new SandboxPlan(
            ns,
            ops,
            mounts.DetachedMounts.ToImmutable(),
            identity,
            new ExecSpec(invocation.Command[0], invocation.Command, env, search, mounts.AgentWorkdir),
            resourceLimits.ToImmutable(),
            filter,
            landlock.Plan,
            invocation.Name ?? DefaultHostname,
            invocation.PreserveFds,
            notices.ToImmutable())
        {
            SeccompNotified = seccomp.Notified,
        };
        return new PlanResult(plan, []);
    }

    /// <summary>The egress proxy's port inside the sandbox; always connectable under tcp_connect.</summary>
    public const int ProxyPort = 3128;

    /// <summary>Landlock grants, as paths of the sandbox (the same paths as on the host).</summary>
    private static LandlockRequest LandlockRequestFor(SandboxPolicy policy, string workdir, bool bestEffort)
    {
        FilesystemPolicy fs = policy.Filesystem;
        var paths = ImmutableArray.CreateBuilder<PathRequest>();
        foreach (PolicyPath p in fs.ReadOnly)
            paths.Add(new PathRequest(p.Path, PathGrant.ReadOnly, p.Location.ToString()));
        foreach (PolicyPath p in fs.ReadWrite)
            paths.Add(new PathRequest(p.Path, PathGrant.ReadWrite, p.Location.ToString()));
        if (fs.IncludeWorkdir)
            paths.Add(new PathRequest(workdir, PathGrant.ReadWrite, "include_workdir"));
        foreach (PolicyPath p in fs.Execute ?? [])
            paths.Add(new PathRequest(p.Path, PathGrant.Execute, p.Location.ToString()));
        return new LandlockRequest(paths.ToImmutable(), fs.Execute is not null, policy.Landlock.TcpBind, policy.Landlock.TcpConnect, ProxyPort, bestEffort);
    }

    private static Identity? PlanIdentity(ProcessPolicy process, HostFacts host, ImmutableArray<PlanError>.Builder errors)
    {
        (uint sbxUid, uint sbxGid) = host.SandboxAccount ?? (DefaultSandboxId, DefaultSandboxId);

        // Default: the invoking user when rootless, `sandbox` when root.
        IdentityRef? user = process.RunAsUser;
        IdentityRef? group = process.RunAsGroup;
        bool useSandbox = user is null ? host.IsRoot : user.Name == "sandbox";

        uint uid;
        string name;
        string? home;
        if (useSandbox)
        {
            (uid, name, home) = (sbxUid, "sandbox", null);
        }
        else if (user is null)
        {
            (uid, name, home) = (host.Uid, host.UserName, host.Home);
        }
        else if (user.Id is uint id)
        {
            (uid, name, home) = (id, PasswdName(host.PasswdText, id) ?? id.ToString(CultureInfo.InvariantCulture), null);
        }
        else if (PasswdLookup(host.PasswdText, user.Name!) is (uint puid, string phome))
        {
            (uid, name, home) = (puid, user.Name!, phome);
        }
        else
        {
            errors.Add(new PlanError(2, $"{user.Location}: process.run_as_user: no account named '{user.Name}' on this host (use `sandbox` or a numeric id)"));
            return null;
        }

        uint gid;
        if (group is null)
            gid = useSandbox ? sbxGid : user is null ? host.Gid : PasswdGid(host.PasswdText, uid) ?? uid;
        else if (group.Id is uint gidValue)
            gid = gidValue;
        else if (group.Name == "sandbox")
            gid = sbxGid;
        else if (GroupLookup(host.GroupText, group.Name!) is uint g)
            gid = g;
        else
        {
            errors.Add(new PlanError(2, $"{group.Location}: process.run_as_group: no group named '{group.Name}' on this host (use `sandbox` or a numeric id)"));
            return null;
        }

        if (uid == 0 || gid == 0)
        {
            errors.Add(new PlanError(2, "the agent may not run as root (uid or gid 0)"));
            return null;
        }

        string uidMap, gidMap;
        bool setGroups;
        if (host.IsRoot)
        {
            // Inside 0 is host 0 so pid 1 can reach root-owned host paths while it builds the
            // root (CAP_DAC_OVERRIDE only covers inodes whose owner is mapped). It drops every
            // capability before it waits, and the agent never holds uid 0.
            uidMap = $"0 0 1\n{uid} {uid} 1\n";
            gidMap = gid == 0 ? "0 0 1\n" : $"0 0 1\n{gid} {gid} 1\n";
            setGroups = true;
        }
        else
        {
            // An unprivileged writer may map exactly its own ids (user_namespaces(7)).
            uidMap = $"{uid} {host.Uid} 1\n";
            gidMap = $"{gid} {host.Gid} 1\n";
            setGroups = false;
        }

        return new Identity(uid, gid, name, home ?? "", setGroups, setGroups ? [gid] : [], uidMap, gidMap, DenySetgroups: !host.IsRoot);
    }

    private static ImmutableArray<KeyValuePair<string, string>> PlanEnvironment(SandboxPolicy policy, Invocation invocation, HostFacts host, Identity identity, bool proxy)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string key in s_passedEnvironment)
            if (host.Environment.TryGetValue(key, out string? value) && !SecretEnvironment.LooksSecret(key, value))
                env[key] = value;
        env["HOME"] = identity.Home;
        env["USER"] = identity.UserName;
        if (!env.ContainsKey("PATH"))
            env["PATH"] = DefaultPath;
        if (proxy)
        {
            // The only way out: every common client honours one of these spellings.
            string url = $"http://127.0.0.1:{ProxyPort}";
            foreach (string key in (string[])["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"])
                env[key] = url;
            env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1";
        }
        foreach ((string key, string value) in policy.Process.Environment)
            env[key] = value;
        foreach ((string key, string? value) in invocation.Environment)
        {
            if (value is not null)
                env[key] = value;
            else if (host.Environment.TryGetValue(key, out string? hostValue))
                env[key] = hostValue; // named explicitly: passed even when it looks secret
        }
        return [.. env.OrderBy(kv => kv.Key, StringComparer.Ordinal)];
    }

    internal static (uint Uid, string Home)? PasswdLookup(string passwd, string name)
    {
        foreach (string line in passwd.Split('\n'))
        {
            string[] f = line.Split(':');
            if (f.Length >= 7 && f[0] == name && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint uid))
                return (uid, f[5]);
        }
        return null;
    }

    private static string? PasswdName(string passwd, uint uid) => PasswdField(passwd, uid, 0);

    private static uint? PasswdGid(string passwd, uint uid) =>
        uint.TryParse(PasswdField(passwd, uid, 3), NumberStyles.None, CultureInfo.InvariantCulture, out uint gid) ? gid : null;

    private static string? PasswdField(string passwd, uint uid, int field)
    {
        string id = uid.ToString(CultureInfo.InvariantCulture);
        foreach (string line in passwd.Split('\n'))
        {
            string[] f = line.Split(':');
            if (f.Length >= 7 && f[2] == id)
                return f[field];
        }
        return null;
    }

    internal static uint? GroupLookup(string group, string name)
    {
        foreach (string line in group.Split('\n'))
        {
            string[] f = line.Split(':');
            if (f.Length >= 3 && f[0] == name && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint gid))
                return gid;
        }
        return null;
    }

    /// <summary>Builds the mount part of the plan (bubblewrap's layout: staging tmpfs, /oldroot, /newroot).</summary>
    private sealed class MountPlanner(
        FilesystemPolicy fs,
        HostFacts host,
        string workdir,
        string? console,
        Identity identity,
        ImmutableArray<Notice>.Builder notices,
        ImmutableArray<PlanError>.Builder errors)
    {
        private const string Old = Layout.OldRoot;
        private const string New = Layout.NewRoot;

        private readonly List<(string Target, int Order, List<SetupOp> Ops)> _placements = [];
        private readonly List<(string Path, bool Writable)> _visible = [];
        private readonly List<string> _hidden = [];
        private readonly HashSet<string> _links = new(StringComparer.Ordinal);
        private bool _emptyFileStaged;

        public ImmutableArray<DetachedMount>.Builder DetachedMounts { get; } = ImmutableArray.CreateBuilder<DetachedMount>();

        public string AgentWorkdir { get; private set; } = "/";

        public bool MemfdNoExec { get; init; }

        public ImmutableArray<SetupOp> Build(string hostname, ImmutableArray<SetupOp> afterPivot, bool proxy)
        {
            var ops = new List<SetupOp>
            {
                SetupOp.Mount(null, "/", null, MountFlags.Recursive | MountFlags.Private, null, "make every mount private (no propagation to or from the host)"),
                SetupOp.Mount("tmpfs", Layout.Staging, "tmpfs", MountFlags.NoSuid | MountFlags.NoDev, "mode=0700", "mount the staging tmpfs"),
                SetupOp.Chdir(Layout.Staging),
                SetupOp.Mkdir(Layout.Staging + New, 0x1C0),
                SetupOp.Mkdir(Layout.Staging + Old, 0x1C0),
                SetupOp.PivotRoot(Layout.Staging, Layout.Staging + Old),
                SetupOp.Chdir("/"),
            };

            bool rootReadOnly = fs.ReadOnly.Any(p => p.Path == "/");
            bool rootWritable = fs.ReadWrite.Any(p => p.Path == "/");
            bool rootBound = rootReadOnly || rootWritable;
            if (rootBound)
            {
                ops.Add(SetupOp.Mount(Old, New, null, MountFlags.Bind | MountFlags.Recursive, null, "bind the host root"));
                ops.Add(SetupOp.SetAttr(New, Attr(!rootWritable), recursive: true, $"make the host root {(rootWritable ? "nosuid" : "read-only")}"));
                _visible.Add(("/", rootWritable));
                foreach (string mask in SystemMasks)
                    if (host.PathKind(mask) == HostPathKind.Directory)
                        AddMask(mask, isDirectory: true, order: 2);
            }
            else
            {
                ops.Add(SetupOp.Mount("tmpfs", New, "tmpfs", MountFlags.NoSuid | MountFlags.NoDev, "mode=0755", "mount the sandbox root tmpfs"));
            }

            bool privateTmp = fs.ReadWrite.Any(p => p.Path == "/tmp");
            if (!rootBound)
                AddRootLinks();
            foreach (PolicyPath p in fs.ReadOnly)
                AddPolicyBind(p, writable: false, privateTmp);
            foreach (PolicyPath p in fs.ReadWrite)
                AddPolicyBind(p, writable: true, privateTmp);
            if (privateTmp)
                AddPlacement("/tmp", 1, [SetupOp.Mount("tmpfs", New + "/tmp", "tmpfs", MountFlags.NoSuid | MountFlags.NoDev, "mode=1777", "mount a private /tmp")], writable: true);
            AddProc();
            AddDev();

            if (fs.IncludeWorkdir)
                AddWorkdir();

            foreach (string home in host.HomeDirectories)
                foreach (string rel in SecretHomePaths)
                    MaskIfVisible(home.TrimEnd('/') + "/" + rel, required: false);
            foreach (string path in SecretSystemPaths)
                MaskIfVisible(path, required: false);
            foreach (PolicyPath deny in fs.Deny)
                MaskIfVisible(deny.Path, required: true);

            AddAccounts();

            // Mount points are created where missing (EEXIST is fine): a target may sit in a
            // tmpfs mounted by an earlier, shallower placement (the working directory in /tmp).
            foreach (var placement in _placements.OrderBy(p => Depth(p.Target)).ThenBy(p => p.Order))
            {
                ops.AddRange(MountPoints(placement.Target, placement.Ops[0]));
                ops.AddRange(placement.Ops);
            }

            if (!rootBound)
                ops.Add(SetupOp.SetAttr(New, MountAttributes.ReadOnly | MountAttributes.NoSuid | MountAttributes.NoDev, recursive: false, "make the sandbox root tmpfs read-only"));

            if (IsVisible(workdir, out _) && !IsHidden(workdir))
                AgentWorkdir = workdir;
            else if (fs.IncludeWorkdir)
                errors.Add(new PlanError(2, $"the working directory {workdir} is hidden by a mask"));

            ops.Add(SetupOp.Umount(Old, "detach the host root"));
            ops.Add(SetupOp.Chdir(New));
            ops.Add(SetupOp.PivotRoot(".", "."));
            ops.Add(SetupOp.Umount(".", "detach the staging tmpfs"));
            ops.Add(SetupOp.Chdir("/"));
            ops.AddRange(afterPivot); // Landlock rules name paths of the new root
            ops.Add(SetupOp.SetHostname(hostname));
            ops.Add(SetupOp.Netlink(Netlink.SetLinkUp(Netlink.LoopbackIndex), "bring up lo"));
            if (proxy)
                ops.Add(SetupOp.ProxyHandoff(ProxyPort));
            ops.Add(SetupOp.Chdir(AgentWorkdir));
            return [.. ops];
        }

        private static MountAttributes Attr(bool readOnly) =>
            MountAttributes.NoSuid | MountAttributes.NoDev | (readOnly ? MountAttributes.ReadOnly : MountAttributes.None);

        /// <summary>
        /// On a tmpfs root, a host whose /bin, /lib64... are links into /usr gets the same links
        /// when their target is shown: without /lib64 no dynamically linked program can start.
        /// </summary>
        private void AddRootLinks()
        {
            var listed = fs.ReadOnly.Concat(fs.ReadWrite).Select(p => p.Path).ToList();
            foreach (string link in s_rootLinks)
            {
                if (host.LinkTarget(link) is not string target)
                    continue;
                string absolute = target.StartsWith('/') ? target : "/" + target;
                if (!listed.Any(l => l != link && IsUnder(absolute, l)))
                    continue;
                _placements.Add((link, 0, [SetupOp.Symlink(target, New + link)]));
                _links.Add(link);
            }
        }

        private void AddPolicyBind(PolicyPath p, bool writable, bool privateTmp)
        {
            string path = p.Path;
            if (path == "/" || _links.Contains(path))
                return;
            // Fresh /proc and a minimal /dev are always mounted; their access rights are
            // narrowed by the Landlock layer, not by binding host devices.
            if (IsUnder(path, "/proc") || IsUnder(path, "/dev"))
                return;
            if (writable && path == "/tmp" && privateTmp)
                return;
            HostPathKind kind = host.PathKind(path);
            if (kind == HostPathKind.Missing)
            {
                notices.Add(new Notice("filesystem", $"{p.Location}: {(writable ? "read_write" : "read_only")} path {path} does not exist on this host; skipped"));
                return;
            }
            var ops = new List<SetupOp>
            {
                SetupOp.Mount(Old + path, New + path, null, MountFlags.Bind | MountFlags.Recursive, null, $"bind {path} ({(writable ? "read-write" : "read-only")})"),
                SetupOp.SetAttr(New + path, Attr(!writable), recursive: true, $"make {path} {(writable ? "nosuid" : "read-only")}"),
            };
            AddPlacement(path, 1, ops, writable, isFile: kind != HostPathKind.Directory);
        }

        private void AddWorkdir()
        {
            if (host.PathKind(workdir) != HostPathKind.Directory)
            {
                errors.Add(new PlanError(125, $"the working directory {workdir} is not a directory on this host"));
                return;
            }
            var ops = new List<SetupOp>();
            if (host.IsRoot && host.Owner(workdir) is (uint ownerUid, uint ownerGid) && ownerUid != identity.Uid)
            {
                // Root runs the agent as an unprivileged uid: show the directory's owner as the
                // agent through an idmapped mount, so it can work there without owning host files.
                DetachedMounts.Add(new DetachedMount(workdir, $"{ownerUid} {identity.Uid} 1\n", $"{ownerGid} {identity.Gid} 1\n"));
                ops.Add(SetupOp.MoveMount(DetachedMounts.Count - 1, New + workdir, $"attach the working directory {workdir} (read-write, owner {ownerUid} shown as {identity.UserName})") with { A = Old + workdir });
            }
            else
            {
                ops.Add(SetupOp.Mount(Old + workdir, New + workdir, null, MountFlags.Bind | MountFlags.Recursive, null, $"bind the working directory {workdir} (read-write)"));
            }
            ops.Add(SetupOp.SetAttr(New + workdir, Attr(readOnly: false), recursive: true, $"make {workdir} nosuid"));
            AddPlacement(workdir, 1, ops, writable: true);
        }

        private void AddProc()
        {
            var ops = new List<SetupOp>
            {
                SetupOp.Mount("proc", New + "/proc", "proc", MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec, null, "mount a fresh /proc"),
            };
            if (MemfdNoExec)
            {
                // Landlock does not see files on internal mounts: a memfd could be executed
                // (execveat AT_EMPTY_PATH, /proc/self/fd/N) past the execute allow-list. In this
                // pid namespace every memfd is created non-executable and sealed (vm.memfd_noexec=1,
                // Linux 6.3+); it is written before /proc/sys becomes read-only and children cannot lower it.
                ops.Add(SetupOp.WriteFile(New + "/proc/sys/vm/memfd_noexec", "1\n"u8) with { Description = "make memfds non-executable (vm.memfd_noexec=1)" });
            }
            foreach (string p in s_procReadOnly)
            {
                ops.Add(SetupOp.Mount(New + p, New + p, null, MountFlags.Bind | MountFlags.Recursive, null, $"bind {p} over itself") with { Optional = true });
                ops.Add(SetupOp.SetAttr(New + p, Attr(readOnly: true), recursive: true, $"make {p} read-only") with { Optional = true });
            }
            foreach (string p in s_procMasked)
                ops.Add(SetupOp.Mount(Old + "/dev/null", New + p, null, MountFlags.Bind, null, $"mask {p}") with { Optional = true });
            AddPlacement("/proc", 1, ops, writable: false);
        }

        private void AddDev()
        {
            const string dev = New + "/dev";
            var ops = new List<SetupOp>
            {
                SetupOp.Mount("tmpfs", dev, "tmpfs", MountFlags.NoSuid | MountFlags.NoExec, "mode=0755", "mount a minimal /dev"),
            };
            foreach (string d in s_devices)
            {
                ops.Add(SetupOp.MkFile($"{dev}/{d}"));
                ops.Add(SetupOp.Mount($"{Old}/dev/{d}", $"{dev}/{d}", null, MountFlags.Bind, null, $"bind /dev/{d}"));
            }
            if (console is not null)
            {
                // ttyname(3) of the agent's terminal resolves through /dev/console, as in runc.
                ops.Add(SetupOp.MkFile(dev + "/console"));
                ops.Add(SetupOp.Mount(Old + console, dev + "/console", null, MountFlags.Bind, null, "bind the agent's terminal as /dev/console"));
            }
            ops.Add(SetupOp.Mkdir(dev + "/pts"));
            ops.Add(SetupOp.Mount("devpts", dev + "/pts", "devpts", MountFlags.NoSuid | MountFlags.NoExec, "newinstance,ptmxmode=0666,mode=0620", "mount a private devpts"));
            ops.Add(SetupOp.Symlink("pts/ptmx", dev + "/ptmx"));
            ops.Add(SetupOp.Mkdir(dev + "/shm"));
            ops.Add(SetupOp.Mount("tmpfs", dev + "/shm", "tmpfs", MountFlags.NoSuid | MountFlags.NoDev, "mode=1777", "mount /dev/shm"));
            ops.Add(SetupOp.Symlink("/proc/self/fd", dev + "/fd"));
            ops.Add(SetupOp.Symlink("/proc/self/fd/0", dev + "/stdin"));
            ops.Add(SetupOp.Symlink("/proc/self/fd/1", dev + "/stdout"));
            ops.Add(SetupOp.Symlink("/proc/self/fd/2", dev + "/stderr"));
            ops.Add(SetupOp.SetAttr(dev, MountAttributes.ReadOnly | MountAttributes.NoSuid | MountAttributes.NoExec, recursive: false, "make /dev read-only"));
            AddPlacement("/dev", 1, ops, writable: false);
        }

        private void MaskIfVisible(string path, bool required)
        {
            HostPathKind kind = host.PathKind(path);
            if (kind == HostPathKind.Missing || !IsVisible(path, out _) || IsHidden(path))
            {
                if (required && kind == HostPathKind.Missing)
                    notices.Add(new Notice("filesystem", $"deny path {path} does not exist on this host; nothing to mask"));
                return;
            }
            AddMask(path, kind == HostPathKind.Directory, order: 3);
        }

        private void AddMask(string path, bool isDirectory, int order)
        {
            List<SetupOp> ops = isDirectory
                ? [SetupOp.Mount("tmpfs", New + path, "tmpfs", MountFlags.ReadOnly | MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec, "mode=0755,size=4k", $"mask {path}")]
                :
                [
                    .. StageEmptyFile(),
                    SetupOp.Mount(EmptyFile, New + path, null, MountFlags.Bind, null, $"mask {path}"),
                    SetupOp.SetAttr(New + path, Attr(readOnly: true) | MountAttributes.NoExec, recursive: false, $"make the mask of {path} read-only"),
                ];
            _placements.Add((path, order, ops));
            _hidden.Add(path);
        }

        /// <summary>An empty, read-only regular file in the staging tmpfs that file masks are bound from.</summary>
        private const string EmptyFile = "/empty";

        private IEnumerable<SetupOp> StageEmptyFile()
        {
            if (_emptyFileStaged)
                return [];
            _emptyFileStaged = true;
            return [SetupOp.WriteFile(EmptyFile, [], mode: 0x124 /* 0444 */)];
        }

        /// <summary>passwd/group entries for an identity the host does not know (`sandbox`).</summary>
        private void AddAccounts()
        {
            if (PasswdName(host.PasswdText, identity.Uid) is not null)
                return;
            string passwd = host.PasswdText.TrimEnd('\n') + $"\n{identity.UserName}:x:{identity.Uid}:{identity.Gid}:{identity.UserName}:{identity.Home}:/bin/sh\n";
            AddGeneratedFile("/etc/passwd", passwd);
            if (!host.GroupText.Split('\n').Any(l => l.Split(':') is { Length: >= 3 } f && f[2] == identity.Gid.ToString(CultureInfo.InvariantCulture)))
                AddGeneratedFile("/etc/group", host.GroupText.TrimEnd('\n') + $"\n{identity.UserName}:x:{identity.Gid}:\n");
        }

        private void AddGeneratedFile(string path, string text)
        {
            if (!IsVisible(path, out _) || host.PathKind(path) != HostPathKind.File)
                return;
            string staged = "/" + path.Replace('/', '_');
            List<SetupOp> ops =
            [
                SetupOp.WriteFile(staged, Encoding.UTF8.GetBytes(text)),
                SetupOp.Mount(staged, New + path, null, MountFlags.Bind, null, $"bind the sandbox's {path}"),
                SetupOp.SetAttr(New + path, Attr(readOnly: true), recursive: false, $"make {path} read-only"),
            ];
            _placements.Add((path, 2, ops));
        }

        private void AddPlacement(string target, int order, List<SetupOp> ops, bool writable, bool isFile = false)
        {
            _placements.Add((target, order, isFile ? [SetupOp.MkFile(New + target), .. ops] : ops));
            _visible.Add((target, writable));
        }

        private bool IsVisible(string path, out bool writable)
        {
            writable = false;
            bool found = false;
            int best = -1;
            foreach ((string root, bool w) in _visible)
            {
                if (IsUnder(path, root) && root.Length > best)
                {
                    (best, writable, found) = (root.Length, w, true);
                }
            }
            return found;
        }

        private bool IsHidden(string path) => _hidden.Any(h => IsUnder(path, h));

        /// <summary>Directories a placement needs (and the target itself unless it is a file); EEXIST is fine.</summary>
        private static IEnumerable<SetupOp> MountPoints(string target, SetupOp first)
        {
            string[] parts = target.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string path = New;
            for (int i = 0; i < parts.Length - 1; i++)
            {
                path += "/" + parts[i];
                yield return SetupOp.Mkdir(path);
            }
            if (first.Kind is not (SetupOpKind.MkFile or SetupOpKind.Symlink or SetupOpKind.WriteFile) && parts.Length > 0)
                yield return SetupOp.Mkdir(New + target);
        }

        private static int Depth(string path) => path == "/" ? 0 : path.Count(c => c == '/');
    }

    internal static bool IsUnder(string path, string root) =>
        root == "/" || path == root || (path.StartsWith(root, StringComparison.Ordinal) && path.Length > root.Length && path[root.Length] == '/');
}
