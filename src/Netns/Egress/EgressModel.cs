using System.Collections.Immutable;

namespace Sandboxrun.Netns.Egress;

// The egress policy as plain values, the input to CompiledEgressPolicy.Compile. It mirrors the
// network_policies section of the policy file (OpenShell's `version: 1` shape, DESIGN.md) without
// depending on the loader: the runtime adapts its records to these.

/// <summary>One named network policy: destinations and the executables that may reach them.</summary>
/// <param name="Name">The policy's name, reported in decisions.</param>
/// <param name="Endpoints">Destinations; a request must match one.</param>
/// <param name="Binaries">Executables; a policy without any matches no process.</param>
public sealed record EgressPolicySpec(
    string Name,
    ImmutableArray<EgressEndpointSpec> Endpoints,
    ImmutableArray<EgressBinarySpec> Binaries);

/// <summary>A destination: host pattern and ports, with optional L7 inspection settings.</summary>
/// <param name="Host">Exact name, IP literal or host glob (see the policy schema).</param>
/// <param name="Ports">TCP ports, 1..65535.</param>
public sealed record EgressEndpointSpec(string Host, ImmutableArray<int> Ports)
{
    /// <summary>Path glob that selects this endpoint among those on the same host and port; the most specific wins.</summary>
    public string? Path { get; init; }

    /// <summary><see cref="EgressProtocol.None"/>: host-level (L4) only; otherwise requests are inspected.</summary>
    public EgressProtocol Protocol { get; init; }

    public EgressTls Tls { get; init; }

    public EgressEnforcement Enforcement { get; init; }

    /// <summary>A method preset; exclusive with <see cref="Rules"/>.</summary>
    public EgressAccess? Access { get; init; }

    /// <summary>Requests allowed on an inspected endpoint (any one suffices).</summary>
    public ImmutableArray<EgressRuleSpec> Rules { get; init; } = [];

    /// <summary>Requests refused even when a rule or preset allows them.</summary>
    public ImmutableArray<EgressRuleSpec> DenyRules { get; init; } = [];

    /// <summary>CIDR ranges (or single addresses) this endpoint may resolve to despite the private-address guard.</summary>
    public ImmutableArray<string> AllowedIps { get; init; } = [];

    /// <summary>Accept "%2F" inside a path segment (it stays encoded upstream).</summary>
    public bool AllowEncodedSlash { get; init; }
}

/// <summary>An L7 match: method (<c>*</c> any), path glob, and query value globs by key.</summary>
public sealed record EgressRuleSpec(string Method, string Path)
{
    public ImmutableArray<KeyValuePair<string, string>> Query { get; init; } = [];
}

/// <summary>An executable allowed by a policy.</summary>
/// <param name="Path">Absolute path or glob (<c>*</c> one segment, <c>**</c> any depth).</param>
public sealed record EgressBinarySpec(string Path)
{
    /// <summary>Pinned SHA-256 (hex). Absent: fixed from the file when the policy is compiled, for a literal path.</summary>
    public string? Sha256 { get; init; }

    /// <summary>Processes descended from this executable are judged as it is (off by default).</summary>
    public bool Inherit { get; init; }
}

public enum EgressProtocol
{
    None,
    Rest,
    WebSocket,
}

public enum EgressTls
{
    /// <summary>Not stated: an inspected endpoint needs termination.</summary>
    Default,

    /// <summary>Keep the tunnel raw; only host and port are checked.</summary>
    Skip,

    /// <summary>Terminate TLS to inspect requests.</summary>
    Terminate,
}

public enum EgressEnforcement
{
    Enforce,

    /// <summary>L7 denials are reported as <see cref="EgressVerdict.AuditAllow"/> and let through.</summary>
    Audit,
}

public enum EgressAccess
{
    /// <summary>GET, HEAD, OPTIONS.</summary>
    ReadOnly,

    /// <summary>Read-only plus POST, PUT, PATCH.</summary>
    ReadWrite,

    /// <summary>Any method, including DELETE.</summary>
    Full,
}

/// <summary>What a request is: a tunnel (CONNECT, judged by host and port) or one HTTP request.</summary>
public enum EgressLayer
{
    L4,
    L7,
}

/// <summary>An executable as the proxy saw it: the path /proc/PID/exe links to and the file's SHA-256.</summary>
/// <param name="Sha256">Lowercase hex; null when it could not be read (fails any hash check).</param>
public readonly record struct EgressExecutable(string Path, string? Sha256);

/// <summary>One process holding the client socket, with its ancestors (parent first).</summary>
public readonly record struct EgressHolder(EgressExecutable Binary, ImmutableArray<EgressExecutable> Ancestors);

/// <summary>One thing to decide: who wants to go where, and for L7 with which request.</summary>
public sealed class EgressRequest
{
    /// <summary>Host as the client named it (any spelling; canonicalised before matching).</summary>
    public required string Host { get; init; }

    public required int Port { get; init; }

    public EgressLayer Layer { get; init; }

    /// <summary>The executable that holds the client socket.</summary>
    public required EgressExecutable Binary { get; init; }

    /// <summary>Its ancestors, parent first; consulted only by binaries entries with <c>inherit</c>.</summary>
    public ImmutableArray<EgressExecutable> Ancestors { get; init; } = [];

    /// <summary>HTTP method (L7), case-sensitive (RFC 9110 §9.1).</summary>
    public string? Method { get; init; }

    /// <summary>Raw path of the request-target (L7), before normalisation, without the query.</summary>
    public string? Path { get; init; }

    /// <summary>Raw query (L7), without the '?'.</summary>
    public string? Query { get; init; }
}

public enum EgressVerdict
{
    Deny,
    Allow,

    /// <summary>Would have been denied at L7, let through because the endpoint is in audit mode.</summary>
    AuditAllow,
}

/// <summary>Why a decision came out as it did; stable codes for tests, audit and metrics.</summary>
public enum EgressReason
{
    Allowed,
    InvalidHost,
    InvalidPort,
    NoMatchingEndpoint,
    BinaryNotAllowed,
    BinaryTampered,
    BinaryUnverifiable,
    NeedsTlsTermination,
    InvalidMethod,
    AmbiguousPath,
    NoEndpointForPath,
    DenyRule,
    NotPermitted,
}
