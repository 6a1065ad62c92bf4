using System.Collections.Immutable;

namespace Sandboxrun.Policy;

// The policy as data: immutable records produced once by PolicyLoader and never mutated.
// OpenShell's `version: 1` schema plus sandboxrun's own keys (DESIGN.md, "Policy schema").
// Every list entry that a later stage may reject carries the SourceLocation it came from,
// so plan-time errors can still name file:line:col.

/// <summary>A position in a policy file (1-based line and column).</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public static SourceLocation Builtin(string what) => new(what, 0, 0);

    public override string ToString() => Line == 0 ? File : $"{File}:{Line}:{Column}";
}

public sealed record PolicyPath(string Path, SourceLocation Location);

public enum LandlockCompatibility
{
    BestEffort,
    HardRequirement,
}

public enum Enforcement
{
    Enforce,
    Audit,
}

public sealed record SandboxPolicy(
    int Version,
    FilesystemPolicy Filesystem,
    LandlockPolicy Landlock,
    ProcessPolicy Process,
    ImmutableArray<NetworkPolicy> NetworkPolicies,
    InferencePolicy? Inference,
    string Source);

public sealed record FilesystemPolicy(
    bool IncludeWorkdir,
    ImmutableArray<PolicyPath> ReadOnly,
    ImmutableArray<PolicyPath> ReadWrite,
    // null when the key is absent: execution is then not restricted by path.
    ImmutableArray<PolicyPath>? Execute,
    ImmutableArray<PolicyPath> Deny);

public sealed record LandlockPolicy(
    LandlockCompatibility Compatibility,
    // null when absent: no restriction (the sandbox's loopback is private).
    ImmutableArray<int>? TcpBind,
    ImmutableArray<int>? TcpConnect);

public sealed record ProcessPolicy(
    // null when absent: the planner picks the default identity.
    IdentityRef? RunAsUser,
    IdentityRef? RunAsGroup,
    SeccompPolicy Seccomp,
    ResourceLimits Limits,
    ImmutableArray<KeyValuePair<string, string>> Environment);

/// <summary>Either the literal name <c>sandbox</c> (or another name) or a numeric id.</summary>
public sealed record IdentityRef(string? Name, uint? Id, SourceLocation Location)
{
    public override string ToString() => Name ?? Id!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

public enum SeccompDefaultAction
{
    Errno,
    Kill,
    Log,
}

public sealed record SeccompPolicy(
    bool DefaultProfile,
    ImmutableArray<string> Block,
    ImmutableArray<string> Allow,
    SeccompDefaultAction DefaultAction,
    bool Log);

public sealed record ResourceLimits(
    long? MemoryBytes,
    int? Pids,
    double? Cpu,
    int? NoFile);

public sealed record NetworkPolicy(
    string Key,
    string Name,
    ImmutableArray<NetworkEndpoint> Endpoints,
    ImmutableArray<BinaryRef> Binaries,
    SourceLocation Location);

public sealed record NetworkEndpoint(
    string Host,
    ImmutableArray<int> Ports,
    string? Path,
    string Protocol,          // "" when absent (L4 only), else rest|websocket|tcp|graphql|mcp|json-rpc|sql
    string? Tls,              // null, "skip" or "terminate"
    Enforcement Enforcement,  // default Enforce (OpenShell defaults to audit; we do not)
    string? Access,           // read-only | read-write | full; exclusive with Rules
    ImmutableArray<L7Rule> Rules,
    ImmutableArray<L7Rule> DenyRules,
    ImmutableArray<string> AllowedIps,
    bool AllowEncodedSlash,
    SourceLocation Location);

public sealed record L7Rule(
    string Method,
    string Path,
    ImmutableArray<KeyValuePair<string, string>> Query,
    SourceLocation Location);

public sealed record BinaryRef(string Path, string? Sha256, bool Inherit, SourceLocation Location);

public sealed record InferencePolicy(ImmutableArray<InferenceRoute> Routes);

public sealed record InferenceRoute(
    string Name,
    string Endpoint,
    string? Model,
    ImmutableArray<string> Protocols,
    string? ApiKey,
    string? ApiKeyEnv,
    SourceLocation Location)
{
    /// <summary>OpenShell's <c>provider_type</c> (e.g. <c>openai</c>, <c>anthropic</c>): selects the auth header style.</summary>
    public string? ProviderType { get; init; }
}

/// <summary>One problem found while loading a policy: "file:line:col: field.path: message".</summary>
public sealed record PolicyError(SourceLocation Location, string FieldPath, string Message)
{
    public override string ToString() =>
        FieldPath.Length == 0 ? $"{Location}: {Message}" : $"{Location}: {FieldPath}: {Message}";
}

/// <summary>The result of loading an OpenShell inference-routes file (top-level <c>routes:</c>).</summary>
public sealed record InferenceRoutesLoadResult(
    InferencePolicy? Inference,
    ImmutableArray<PolicyError> Errors,
    ImmutableArray<PolicyError> Warnings)
{
    public bool Ok => Inference is not null && Errors.IsEmpty;
}

public sealed record PolicyLoadResult(
    SandboxPolicy? Policy,
    ImmutableArray<PolicyError> Errors,
    ImmutableArray<PolicyError> Warnings)
{
    public bool Ok => Policy is not null && Errors.IsEmpty;
}
