using System.Collections.Immutable;
using System.Globalization;
using Sandboxrun.Seccomp;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>
/// Reads the policy schema (DESIGN.md, "Policy schema") from a YAML tree. Every problem is
/// reported to the diagnostics and reading goes on, so one pass finds all of them; the policy
/// is returned only when there were none. Absent sections take OpenShell's defaults, except
/// enforcement, which defaults to enforce.
/// </summary>
internal static class PolicyReader
{
    private static readonly string[] TopKeys = ["version", "filesystem_policy", "landlock", "process", "network_policies", "inference"];
    private static readonly string[] FilesystemKeys = ["include_workdir", "read_only", "read_write", "execute", "deny"];
    private static readonly string[] LandlockKeys = ["compatibility", "tcp_bind", "tcp_connect"];
    private static readonly string[] CompatibilityChoices = ["best_effort", "hard_requirement"];
    private static readonly string[] ProcessKeys = ["run_as_user", "run_as_group", "seccomp", "limits", "env"];
    private static readonly string[] SeccompKeys = ["default_profile", "block", "allow", "default_action", "log"];
    private static readonly string[] DefaultActionChoices = ["errno", "kill", "log"];
    private static readonly string[] LimitsKeys = ["memory", "pids", "cpu", "nofile"];

    public static SandboxPolicy? Read(YamlNode root, PolicyDiagnostics diag)
    {
        var top = YamlFields.Open(diag, root, "", TopKeys);
        if (top is null)
        {
            return null;
        }

        ReadVersion(top);
        var filesystem = ReadFilesystem(top.Mapping("filesystem_policy", FilesystemKeys));
        var landlock = ReadLandlock(top.Mapping("landlock", LandlockKeys));
        var process = ReadProcess(top.Mapping("process", ProcessKeys));
        var network = NetworkPolicyReader.Read(top);
        var inference = InferenceReader.ReadSection(top);

        return diag.HasErrors ? null : new SandboxPolicy(1, filesystem, landlock, process, network, inference, diag.Source);
    }

    private static void ReadVersion(YamlFields top)
    {
        if (top.Value("version") is not { } node)
        {
            top.Diag.Error(top.Node, "version", "required key 'version' is missing; a policy starts with version: 1");
            return;
        }

        var version = YamlValues.Integer(top.Diag, node, "version", long.MinValue, long.MaxValue);
        if (version is not null and not 1)
        {
            top.Diag.Error(node, "version", $"unsupported version {version.Value.ToString(CultureInfo.InvariantCulture)}; expected 1");
        }
    }

    private static FilesystemPolicy ReadFilesystem(YamlFields? fields) => fields is null
        ? new FilesystemPolicy(false, [], [], null, [])
        : new FilesystemPolicy(
            fields.Bool("include_workdir", false),
            ReadPaths(fields, "read_only"),
            ReadPaths(fields, "read_write"),
            fields.Has("execute") ? ReadPaths(fields, "execute") : null,
            ReadPaths(fields, "deny"));

    internal static ImmutableArray<PolicyPath> ReadPaths(YamlFields fields, string key)
    {
        var paths = ImmutableArray.CreateBuilder<PolicyPath>();
        foreach (var (node, path) in fields.Items(key))
        {
            if (YamlValues.String(fields.Diag, node, path, "an absolute path") is not { } raw)
            {
                continue;
            }

            if (PolicySyntax.NormalizeAbsolutePath(raw, out var normalized) is { } error)
            {
                fields.Diag.Error(node, path, error);
                continue;
            }

            paths.Add(new PolicyPath(normalized, fields.Diag.At(node)));
        }

        return paths.DrainToImmutable();
    }

    private static LandlockPolicy ReadLandlock(YamlFields? fields)
    {
        if (fields is null)
        {
            return new LandlockPolicy(LandlockCompatibility.BestEffort, null, null);
        }

        var compatibility = fields.Choice("compatibility", CompatibilityChoices) == "hard_requirement"
            ? LandlockCompatibility.HardRequirement
            : LandlockCompatibility.BestEffort;

        // Landlock treats a bind to port 0 as a bind to an ephemeral port, so 0 may be listed for tcp_bind.
        return new LandlockPolicy(
            compatibility,
            fields.Has("tcp_bind") ? ReadPorts(fields, "tcp_bind", 0) : null,
            fields.Has("tcp_connect") ? ReadPorts(fields, "tcp_connect", 1) : null);
    }

    /// <summary>Ports in file order, duplicates dropped.</summary>
    internal static ImmutableArray<int> ReadPorts(YamlFields fields, string key, int min)
    {
        var ports = new List<int>();
        foreach (var (node, path) in fields.Items(key))
        {
            if (YamlValues.Integer(fields.Diag, node, path, min, 65535) is { } port && !ports.Contains((int)port))
            {
                ports.Add((int)port);
            }
        }

        return [.. ports];
    }

    private static ProcessPolicy ReadProcess(YamlFields? fields)
    {
        if (fields is null)
        {
            return new ProcessPolicy(null, null, DefaultSeccomp, new ResourceLimits(null, null, null, null), []);
        }

        return new ProcessPolicy(
            ReadIdentity(fields, "run_as_user"),
            ReadIdentity(fields, "run_as_group"),
            ReadSeccomp(fields.Mapping("seccomp", SeccompKeys)),
            ReadLimits(fields.Mapping("limits", LimitsKeys)),
            ReadEnvironment(fields));
    }

    /// <summary>A name, or a numeric id given as a YAML integer or a digit string. Root (name or id 0) is refused.</summary>
    private static IdentityRef? ReadIdentity(YamlFields fields, string key)
    {
        var path = fields.PathOf(key);
        if (fields.Value(key) is not { } node || YamlValues.Scalar(fields.Diag, node, path, "a name or a numeric id") is not { } scalar)
        {
            return null;
        }

        var text = scalar.Value ?? "";
        if (text.Length > 0 && !text.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id == uint.MaxValue)
            {
                fields.Diag.Error(node, path, $"{text} is out of range for a {(key == "run_as_user" ? "uid" : "gid")}");
                return null;
            }

            if (id == 0)
            {
                fields.Diag.Error(node, path, "root is refused; the agent must not run as id 0");
                return null;
            }

            return new IdentityRef(null, id, fields.Diag.At(node));
        }

        if (text == "root")
        {
            fields.Diag.Error(node, path, "root is refused; use sandbox or another unprivileged name");
            return null;
        }

        if (!PolicySyntax.IsAccountName(text))
        {
            fields.Diag.Error(node, path, $"{YamlValues.Quote(text)} is neither a valid account name nor a numeric id");
            return null;
        }

        return new IdentityRef(text, null, fields.Diag.At(node));
    }

    private static readonly SeccompPolicy DefaultSeccomp = new(true, [], [], SeccompDefaultAction.Errno, false);

    private static SeccompPolicy ReadSeccomp(YamlFields? fields)
    {
        if (fields is null)
        {
            return DefaultSeccomp;
        }

        var block = ReadSyscalls(fields, "block", []);
        return new SeccompPolicy(
            fields.Bool("default_profile", true),
            block,
            ReadSyscalls(fields, "allow", block),
            fields.Choice("default_action", DefaultActionChoices) switch
            {
                "kill" => SeccompDefaultAction.Kill,
                "log" => SeccompDefaultAction.Log,
                _ => SeccompDefaultAction.Errno,
            },
            fields.Bool("log", false));
    }

    /// <summary>Names of the native syscall table (x86_64), in file order, duplicates dropped; a name
    /// also in <paramref name="blocked"/> is an error (block and allow would contradict each other).</summary>
    private static ImmutableArray<string> ReadSyscalls(YamlFields fields, string key, ImmutableArray<string> blocked)
    {
        var names = ImmutableArray.CreateBuilder<string>();
        foreach (var (node, path) in fields.Items(key))
        {
            if (YamlValues.String(fields.Diag, node, path, "a syscall name") is not { } name)
            {
                continue;
            }

            if (SyscallTable.X86_64.Number(name) is null)
            {
                fields.Diag.Error(node, path, SeccompProfile.UnknownSyscallMessage(SyscallTable.X86_64, name));
                continue;
            }

            if (blocked.Contains(name))
            {
                fields.Diag.Error(node, path, $"'{name}' is also in process.seccomp.block; a syscall is either blocked or allowed");
                continue;
            }

            if (!names.Contains(name))
            {
                names.Add(name);
            }
        }

        return names.DrainToImmutable();
    }

    private static ResourceLimits ReadLimits(YamlFields? fields)
    {
        if (fields is null)
        {
            return new ResourceLimits(null, null, null, null);
        }

        long? memory = null;
        if (fields.Value("memory") is { } node && YamlValues.Scalar(fields.Diag, node, fields.PathOf("memory"), "a size like 512Mi or 4Gi") is { } scalar)
        {
            if (PolicySyntax.ParseSize(scalar.Value ?? "", out var bytes) is { } error)
            {
                fields.Diag.Error(node, fields.PathOf("memory"), error);
            }
            else
            {
                memory = bytes;
            }
        }

        var cpu = fields.Value("cpu") is { } cpuNode ? YamlValues.PositiveNumber(fields.Diag, cpuNode, fields.PathOf("cpu")) : null;
        return new ResourceLimits(
            memory,
            (int?)fields.Integer("pids", 1, int.MaxValue),
            cpu,
            (int?)fields.Integer("nofile", 1, int.MaxValue));
    }

    private static ImmutableArray<KeyValuePair<string, string>> ReadEnvironment(YamlFields process)
    {
        if (process.Mapping("env", null) is not { } fields)
        {
            return [];
        }

        var environment = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>();
        foreach (var (keyNode, valueNode) in fields.Entries)
        {
            var name = keyNode.Value ?? "";
            var path = fields.PathOf(name);
            if (!PolicySyntax.IsEnvName(name))
            {
                fields.Diag.Error(keyNode, path, $"{YamlValues.Quote(name)} is not a valid environment variable name; expected [A-Za-z_][A-Za-z0-9_]*");
                continue;
            }

            if (YamlValues.String(fields.Diag, valueNode, path, "a string value (write \"\" for an empty one)") is { } value)
            {
                environment.Add(new(name, value));
            }
        }

        return environment.DrainToImmutable();
    }
}
