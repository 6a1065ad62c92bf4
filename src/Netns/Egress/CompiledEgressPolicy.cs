using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Sandboxrun.Netns.Egress;

/// <summary>The result of compiling: the policy, or the errors that prevented it, and warnings either way.</summary>
public sealed record EgressCompileResult(
    CompiledEgressPolicy? Policy,
    ImmutableArray<string> Errors,
    ImmutableArray<string> Warnings)
{
    public bool Ok => Policy is not null && Errors.IsEmpty;
}

/// <summary>
/// The network policies compiled once into an immutable index, and the pure decision over it.
/// Hot reload compiles a new instance and swaps the reference; an instance never changes, so a
/// decision needs no lock and every request on a connection can use whatever instance is current.
/// <para>
/// Decision order (deny by default):
/// 1. the host is canonicalised (every IP spelling is one address) and the port checked;
/// 2. endpoints matching host and port are found through the index (exact names and addresses
///    by canonical text, wildcards by their literal suffix);
/// 3. of those, only endpoints of policies whose <c>binaries</c> match the executable remain;
///    a binary whose path matches an entry but whose SHA-256 does not is denied as tampering,
///    whatever other policies say;
/// 4. a tunnel (L4) is allowed by any remaining endpoint that does not inspect requests or says
///    <c>tls: skip</c>; one that inspects needs TLS termination, which does not exist yet, so it
///    is denied with that reason;
/// 5. a request (L7) has its path normalised (ambiguity denies), the endpoints whose <c>path</c>
///    glob fits it best are kept, any matching <c>deny_rules</c> denies, then an endpoint without
///    inspection, a matching <c>access</c> preset or a matching rule allows. Audit endpoints turn
///    their own L7 denials into <see cref="EgressVerdict.AuditAllow"/>.
/// </para>
/// </summary>
public sealed class CompiledEgressPolicy
{
    private readonly Dictionary<string, CompiledEndpoint[]> _exact;
    private readonly Dictionary<string, CompiledEndpoint[]>.AlternateLookup<ReadOnlySpan<char>> _wildcards;
    private readonly int _wildcardCount;

    [ThreadStatic]
    private static List<CompiledEndpoint>? t_candidates;

    private CompiledEgressPolicy(
        Dictionary<string, CompiledEndpoint[]> exact,
        Dictionary<string, CompiledEndpoint[]> wildcards,
        int endpointCount,
        int policyCount,
        long generation,
        bool usesInherit)
    {
        _exact = exact;
        _wildcards = wildcards.GetAlternateLookup<ReadOnlySpan<char>>();
        _wildcardCount = wildcards.Count;
        EndpointCount = endpointCount;
        PolicyCount = policyCount;
        Generation = generation;
        UsesInherit = usesInherit;
    }

    /// <summary>A policy that denies everything (no network_policies).</summary>
    public static CompiledEgressPolicy Empty { get; } = new([], [], 0, 0, 0, false);

    public long Generation { get; }

    public int PolicyCount { get; }

    public int EndpointCount { get; }

    /// <summary>Some binaries entry says <c>inherit</c>: only then do decisions need the holders' ancestors (a /proc walk per request otherwise saved).</summary>
    public bool UsesInherit { get; }

    /// <summary>
    /// Validates and compiles <paramref name="policies"/>.
    /// </summary>
    /// <param name="hashAtLoad">
    /// SHA-256 (hex) of the file at an absolute path, or null when it cannot be read. Called once
    /// for every literal binary path without a pinned <c>sha256</c>: its hash is fixed now (trust on
    /// first use, at load), and a later executable at that path with another hash is tampering.
    /// When null, such entries match by path alone. Glob entries without <c>sha256</c> always match
    /// by path alone (a warning says so).
    /// </param>
    /// <param name="generation">Stamped on every decision, so reload can tell old from new.</param>
    public static EgressCompileResult Compile(IEnumerable<EgressPolicySpec> policies, Func<string, string?>? hashAtLoad = null, long generation = 0)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var errors = ImmutableArray.CreateBuilder<string>();
        var warnings = ImmutableArray.CreateBuilder<string>();
        var exact = new Dictionary<string, List<CompiledEndpoint>>(StringComparer.Ordinal);
        var wildcards = new Dictionary<string, List<CompiledEndpoint>>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (hashAtLoad is not null)
        {
            // Each file is hashed once per load, however many entries name it.
            var hashes = new Dictionary<string, string?>(StringComparer.Ordinal);
            var hasher = hashAtLoad;
            hashAtLoad = path => hashes.TryGetValue(path, out var known) ? known : hashes[path] = hasher(path);
        }

        var endpointCount = 0;
        var policyCount = 0;
        var usesInherit = false;
        foreach (var spec in policies)
        {
            policyCount++;
            var where = $"policy '{spec.Name}'";
            if (string.IsNullOrEmpty(spec.Name))
            {
                errors.Add("a policy has an empty name");
                continue;
            }

            if (!names.Add(spec.Name))
            {
                errors.Add($"{where}: duplicate policy name");
                continue;
            }

            var binaries = CompileBinaries(spec, where, hashAtLoad, errors, warnings);
            usesInherit |= binaries.Any(b => b.Inherit);
            var policy = new CompiledPolicyEntry(spec.Name, binaries);
            if (binaries.Length == 0)
            {
                warnings.Add($"{where}: no binaries, so it matches no process");
            }

            var endpoints = spec.Endpoints.IsDefault ? [] : spec.Endpoints;
            for (var i = 0; i < endpoints.Length; i++)
            {
                if (CompiledEndpoint.TryCreate(policy, endpoints[i], i, where, errors, warnings) is not { } endpoint)
                {
                    continue;
                }

                endpointCount++;
                var (table, key) = endpoint.Host.Exact is { } e ? (exact, e.Text) : (wildcards, endpoint.Host.LiteralSuffix);
                if (!table.TryGetValue(key, out var list))
                {
                    table[key] = list = [];
                }

                list.Add(endpoint);
            }
        }

        if (errors.Count > 0)
        {
            return new EgressCompileResult(null, errors.ToImmutable(), warnings.ToImmutable());
        }

        var compiled = new CompiledEgressPolicy(
            exact.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal),
            wildcards.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal),
            endpointCount,
            policyCount,
            generation,
            usesInherit);
        return new EgressCompileResult(compiled, [], warnings.ToImmutable());
    }

    private static CompiledBinary[] CompileBinaries(
        EgressPolicySpec spec, string where, Func<string, string?>? hashAtLoad, ImmutableArray<string>.Builder errors, ImmutableArray<string>.Builder warnings)
    {
        var binaries = spec.Binaries.IsDefault ? [] : spec.Binaries;
        var compiled = new List<CompiledBinary>(binaries.Length);
        for (var i = 0; i < binaries.Length; i++)
        {
            var b = binaries[i];
            var label = $"binaries[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (string.IsNullOrEmpty(b.Path) || b.Path[0] != '/' || b.Path.Contains('\0', StringComparison.Ordinal))
            {
                errors.Add($"{where}: {label}.path: '{b.Path}' is not an absolute path");
                continue;
            }

            string? sha = null;
            if (b.Sha256 is { } pinned)
            {
                if (pinned.Length != 64 || pinned.AsSpan().ContainsAnyExcept("0123456789abcdefABCDEF"))
                {
                    errors.Add($"{where}: {label}.sha256: expected 64 hexadecimal digits");
                    continue;
                }

                sha = pinned.ToLowerInvariant();
            }

            var isGlob = b.Path.Contains('*', StringComparison.Ordinal);
            PathGlob? glob = null;
            if (isGlob && (glob = PathGlob.TryCreate(b.Path, out var globError)) is null)
            {
                errors.Add($"{where}: {label}.path: {globError}");
                continue;
            }

            var state = sha is null ? BinaryHash.PathOnly : BinaryHash.Known;
            if (sha is null && !isGlob && hashAtLoad is not null)
            {
                sha = hashAtLoad(b.Path)?.ToLowerInvariant();
                state = sha is null ? BinaryHash.MissingAtLoad : BinaryHash.Known;
                if (sha is null)
                {
                    warnings.Add($"{where}: {label}: {b.Path} could not be read when the policy was loaded, so nothing running it is allowed until the policy is reloaded");
                }
            }
            else if (sha is null && isGlob)
            {
                warnings.Add($"{where}: {label}: {b.Path} is a glob without sha256; executables matching it are identified by path only");
            }

            compiled.Add(new CompiledBinary(b.Path, glob, sha, state, b.Inherit, label));
        }

        return [.. compiled];
    }

    /// <summary>Decides <paramref name="request"/>. Pure: the same request against the same instance gives the same decision.</summary>
    public EgressDecision Evaluate(EgressRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!HostName.TryCanonicalize(request.Host, out var host))
        {
            return Deny(request, request.Host, EgressLayer.L4, EgressReason.InvalidHost, null, null, $"'{Truncate(request.Host)}' is not a valid host name or IP address");
        }

        if (request.Port is < 1 or > 65535)
        {
            return Deny(request, host.Text, EgressLayer.L4, EgressReason.InvalidPort, null, null, $"port {request.Port.ToString(CultureInfo.InvariantCulture)} is out of range");
        }

        var candidates = t_candidates ??= new List<CompiledEndpoint>(16);
        try
        {
            Gather(host, request.Port, candidates);
            if (candidates.Count == 0)
            {
                return Deny(request, host.Text, EgressLayer.L4, EgressReason.NoMatchingEndpoint, null, null, $"no policy allows {Destination(host.Text, request.Port)}");
            }

            if (FilterByBinary(request, host.Text, candidates) is { } refused)
            {
                return refused;
            }

            return request.Layer == EgressLayer.L4
                ? DecideTunnel(request, host.Text, candidates)
                : DecideRequest(request, host.Text, candidates);
        }
        finally
        {
            candidates.Clear();
        }
    }

    /// <summary>
    /// Decides a connection held by several processes (an fd inherited or passed with SCM_RIGHTS):
    /// every holder is judged and the first denial wins; no holder at all is a denial (the owner
    /// vanished before it could be identified).
    /// </summary>
    public EgressDecision EvaluateForHolders(EgressRequest request, IReadOnlyList<EgressHolder> holders)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(holders);
        if (holders.Count == 0)
        {
            var canonical = HostName.TryCanonicalize(request.Host, out var h) ? h.Text : request.Host;
            return Deny(request, canonical, EgressLayer.L4, EgressReason.BinaryUnverifiable, null, null, "no process holding the connection could be identified");
        }

        EgressDecision? first = null;
        foreach (var (binary, ancestors) in holders)
        {
            var decision = Evaluate(new EgressRequest
            {
                Host = request.Host,
                Port = request.Port,
                Layer = request.Layer,
                Binary = binary,
                Ancestors = ancestors,
                Method = request.Method,
                Path = request.Path,
                Query = request.Query,
            });
            if (decision.Verdict == EgressVerdict.Deny)
            {
                return decision;
            }

            first ??= decision;
        }

        return first!;
    }

    private void Gather(in CanonicalHost host, int port, List<CompiledEndpoint> into)
    {
        if (_exact.TryGetValue(host.Text, out var exact))
        {
            foreach (var endpoint in exact)
            {
                if (endpoint.HasPort(port))
                {
                    into.Add(endpoint);
                }
            }
        }

        if (_wildcardCount == 0 || host.Kind != HostKind.Name)
        {
            return;
        }

        // Every proper suffix at a label boundary may be a wildcard's literal suffix.
        ReadOnlySpan<char> rest = host.Text;
        for (var dot = rest.IndexOf('.'); dot >= 0; dot = rest.IndexOf('.'))
        {
            rest = rest[(dot + 1)..];
            if (!rest.Contains('.'))
            {
                break; // one label: a wildcard's suffix always has two or more
            }

            if (_wildcards.TryGetValue(rest, out var list))
            {
                foreach (var endpoint in list)
                {
                    if (endpoint.HasPort(port) && endpoint.Host.IsMatch(host))
                    {
                        into.Add(endpoint);
                    }
                }
            }
        }
    }

    /// <summary>Keeps the candidates whose policy admits the executable; a tampered binary denies outright.</summary>
    private EgressDecision? FilterByBinary(EgressRequest request, string host, List<CompiledEndpoint> candidates)
    {
        var kept = 0;
        CompiledPolicyEntry? lastPolicy = null;
        var lastOutcome = default(BinaryJudgement);
        for (var i = 0; i < candidates.Count; i++)
        {
            var endpoint = candidates[i];
            var outcome = ReferenceEquals(endpoint.Policy, lastPolicy) ? lastOutcome : endpoint.Policy.Judge(request.Binary, request.Ancestors);
            lastPolicy = endpoint.Policy;
            lastOutcome = outcome;
            switch (outcome.Kind)
            {
                case BinaryMatch.Tampered:
                    return Deny(request, host, EgressLayer.L4, EgressReason.BinaryTampered, endpoint.Policy.Name, outcome.Entry!.Label,
                        $"tampering: {outcome.Executable.Path} has SHA-256 {outcome.Executable.Sha256}, but policy '{endpoint.Policy.Name}' fixed {outcome.Entry.Sha256} for {outcome.Entry.Path}; the binary was modified or replaced");
                case BinaryMatch.Unverifiable:
                    return Deny(request, host, EgressLayer.L4, EgressReason.BinaryUnverifiable, endpoint.Policy.Name, outcome.Entry!.Label,
                        outcome.Entry.State == BinaryHash.MissingAtLoad
                            ? $"{outcome.Entry.Path} could not be hashed when policy '{endpoint.Policy.Name}' was loaded; reload the policy to trust it"
                            : $"the SHA-256 of {outcome.Executable.Path} could not be read, so it cannot be compared with policy '{endpoint.Policy.Name}'");
                case BinaryMatch.Match:
                    candidates[kept++] = endpoint;
                    break;
                case BinaryMatch.NoMatch:
                    break;
            }
        }

        if (kept > 0)
        {
            candidates.RemoveRange(kept, candidates.Count - kept);
            return null;
        }

        var names = new List<string>();
        foreach (var endpoint in candidates)
        {
            if (!names.Contains(endpoint.Policy.Name))
            {
                names.Add(endpoint.Policy.Name);
            }
        }

        var policies = "'" + string.Join("', '", names) + "'";
        var deleted = request.Binary.Path.EndsWith(" (deleted)", StringComparison.Ordinal)
            ? " (its executable was deleted or replaced after it started, so its path names nothing)"
            : "";
        return Deny(request, host, EgressLayer.L4, EgressReason.BinaryNotAllowed, candidates[0].Policy.Name, null,
            $"{request.Binary.Path}{deleted} is not among the binaries of policy {policies} for {Destination(host, request.Port)}");
    }

    private EgressDecision DecideTunnel(EgressRequest request, string host, List<CompiledEndpoint> candidates)
    {
        CompiledEndpoint? allowing = null;
        var exceptions = AddressExceptions.None;
        var allAudit = true;
        foreach (var endpoint in candidates)
        {
            allAudit &= endpoint.Audit;
            if (!endpoint.NeedsTermination)
            {
                allowing ??= endpoint;
                exceptions = AddressExceptions.Union(exceptions, endpoint.Exceptions);
            }
        }

        if (allowing is not null)
        {
            return Decide(EgressVerdict.Allow, EgressReason.Allowed, EgressLayer.L4, host, request.Port, allowing.Policy.Name, allowing.Label, allowing.TunnelDetail, null, exceptions);
        }

        var first = candidates[0];
        var detail = $"{Destination(host, request.Port)} has L7 rules ({first.ProtocolName}) in policy '{first.Policy.Name}' {first.Label}; "
            + "they can only be enforced on a terminated TLS session, which this version does not do yet. "
            + "Set tls: skip on the endpoint to allow the host without inspecting requests";
        if (allAudit)
        {
            foreach (var endpoint in candidates)
            {
                exceptions = AddressExceptions.Union(exceptions, endpoint.Exceptions);
            }

            return Decide(EgressVerdict.AuditAllow, EgressReason.NeedsTlsTermination, EgressLayer.L4, host, request.Port, first.Policy.Name, first.Label, "would deny: " + detail, null, exceptions);
        }

        return Deny(request, host, EgressLayer.L4, EgressReason.NeedsTlsTermination, first.Policy.Name, first.Label, detail);
    }

    private EgressDecision DecideRequest(EgressRequest request, string host, List<CompiledEndpoint> candidates)
    {
        var method = request.Method ?? "";
        if (!HttpSyntax.IsToken(method))
        {
            return Deny(request, host, EgressLayer.L7, EgressReason.InvalidMethod, null, null, $"'{Truncate(method)}' is not an HTTP method");
        }

        var problem = RequestPath.Normalize(request.Path ?? "/", allowEncodedSlash: true, out var path, out var encodedSlash);
        if (problem != PathProblem.None)
        {
            return Deny(request, host, EgressLayer.L7, EgressReason.AmbiguousPath, candidates[0].Policy.Name, null, RequestPath.Describe(problem));
        }

        var firstPolicy = candidates[0].Policy.Name;

        // Endpoint selection by path: the most specific matching `path` wins; no `path` is least specific.
        var best = long.MinValue;
        var winners = 0;
        for (var i = 0; i < candidates.Count; i++)
        {
            var endpoint = candidates[i];
            long specificity = endpoint.Path is null ? -1 : endpoint.Path.IsMatch(path) ? endpoint.Path.Specificity : long.MinValue;
            if (specificity == long.MinValue || specificity < best)
            {
                continue;
            }

            if (specificity > best)
            {
                best = specificity;
                winners = 0;
            }

            candidates[winners++] = endpoint;
        }

        candidates.RemoveRange(winners, candidates.Count - winners);
        if (winners == 0)
        {
            return Deny(request, host, EgressLayer.L7, EgressReason.NoEndpointForPath, firstPolicy, null,
                $"no endpoint of {Destination(host, request.Port)} covers the path {Redaction.Path(path)}");
        }

        if (encodedSlash)
        {
            candidates.RemoveAll(e => !e.AllowEncodedSlash);
            if (candidates.Count == 0)
            {
                return Deny(request, host, EgressLayer.L7, EgressReason.AmbiguousPath, null, null, RequestPath.Describe(PathProblem.EncodedSlash));
            }
        }

        var query = new QueryView(request.Query);
        (CompiledEndpoint Endpoint, L7Rule Rule)? auditedDeny = null;
        foreach (var endpoint in candidates)
        {
            foreach (var rule in endpoint.DenyRules)
            {
                if (!rule.Matches(method, path, ref query, deny: true))
                {
                    continue;
                }

                if (!endpoint.Audit)
                {
                    return Deny(request, host, EgressLayer.L7, EgressReason.DenyRule, endpoint.Policy.Name, rule.Label,
                        $"{method} {Redaction.Path(path)} matches deny rule {rule.Description} of policy '{endpoint.Policy.Name}'", path);
                }

                auditedDeny ??= (endpoint, rule);
            }
        }

        CompiledEndpoint? allowing = null;
        string? allowLabel = null;
        string? allowDetail = null;
        var exceptions = AddressExceptions.None;
        foreach (var endpoint in candidates)
        {
            if (endpoint.Allows(method, path, ref query) is not { } match)
            {
                continue;
            }

            if (allowing is null)
            {
                (allowing, allowLabel, allowDetail) = (endpoint, match.Label, match.Detail);
            }

            exceptions = AddressExceptions.Union(exceptions, endpoint.Exceptions);
        }

        if (auditedDeny is { } audited)
        {
            foreach (var endpoint in candidates)
            {
                exceptions = AddressExceptions.Union(exceptions, endpoint.Exceptions);
            }

            return Decide(EgressVerdict.AuditAllow, EgressReason.DenyRule, EgressLayer.L7, host, request.Port, audited.Endpoint.Policy.Name, audited.Rule.Label,
                $"would deny: {method} {Redaction.Path(path)} matches deny rule {audited.Rule.Description} of policy '{audited.Endpoint.Policy.Name}'", path, exceptions);
        }

        if (allowing is not null)
        {
            return Decide(EgressVerdict.Allow, EgressReason.Allowed, EgressLayer.L7, host, request.Port, allowing.Policy.Name, allowLabel, allowDetail!, path, exceptions);
        }

        var first = candidates[0];
        var detail = $"{method} {Redaction.Path(path)} is not permitted by policy '{first.Policy.Name}' for {Destination(host, request.Port)} ({first.AllowedSummary})";
        if (candidates.TrueForAll(e => e.Audit))
        {
            foreach (var endpoint in candidates)
            {
                exceptions = AddressExceptions.Union(exceptions, endpoint.Exceptions);
            }

            return Decide(EgressVerdict.AuditAllow, EgressReason.NotPermitted, EgressLayer.L7, host, request.Port, first.Policy.Name, first.Label, "would deny: " + detail, path, exceptions);
        }

        return Deny(request, host, EgressLayer.L7, EgressReason.NotPermitted, first.Policy.Name, first.Label, detail, path);
    }

    private EgressDecision Deny(EgressRequest request, string host, EgressLayer layer, EgressReason reason, string? policy, string? rule, string detail, string? path = null) =>
        Decide(EgressVerdict.Deny, reason, layer, host, request.Port, policy, rule, detail, path, AddressExceptions.None);

    private EgressDecision Decide(EgressVerdict verdict, EgressReason reason, EgressLayer layer, string host, int port, string? policy, string? rule, string detail, string? path, AddressExceptions exceptions) =>
        new(verdict, reason, layer, host, port, policy, rule, detail, path, Generation, exceptions);

    private static string Destination(string host, int port) =>
        host.Contains(':', StringComparison.Ordinal)
            ? $"[{host}]:{port.ToString(CultureInfo.InvariantCulture)}"
            : $"{host}:{port.ToString(CultureInfo.InvariantCulture)}";

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "...";
}

internal enum BinaryHash : byte
{
    /// <summary>No hash to compare (glob without sha256, or no hasher given): path only.</summary>
    PathOnly,
    Known,

    /// <summary>A literal path that could not be read at load: nothing matches it until reload.</summary>
    MissingAtLoad,
}

internal enum BinaryMatch : byte
{
    NoMatch,
    Match,
    Tampered,
    Unverifiable,
}

internal readonly record struct BinaryJudgement(BinaryMatch Kind, CompiledBinary? Entry, EgressExecutable Executable);

internal sealed class CompiledBinary(string path, PathGlob? glob, string? sha256, BinaryHash state, bool inherit, string label)
{
    public string Path { get; } = path;

    public string? Sha256 { get; } = sha256;

    public BinaryHash State { get; } = state;

    public bool Inherit { get; } = inherit;

    public string Label { get; } = label;

    /// <summary>
    /// Judges one executable. A path ending in " (deleted)" is what /proc/PID/exe shows once the
    /// file was unlinked or replaced; it names nothing trustworthy (a file may be called that), so
    /// it never matches.
    /// </summary>
    public BinaryMatch Judge(in EgressExecutable exe)
    {
        if (exe.Path.EndsWith(" (deleted)", StringComparison.Ordinal))
        {
            return BinaryMatch.NoMatch;
        }

        var pathMatches = glob is null ? exe.Path == Path : glob.IsMatch(exe.Path);
        if (!pathMatches)
        {
            return BinaryMatch.NoMatch;
        }

        return State switch
        {
            BinaryHash.PathOnly => BinaryMatch.Match,
            BinaryHash.MissingAtLoad => BinaryMatch.Unverifiable,
            BinaryHash.Known when exe.Sha256 is null => BinaryMatch.Unverifiable,
            BinaryHash.Known => string.Equals(exe.Sha256, Sha256, StringComparison.OrdinalIgnoreCase) ? BinaryMatch.Match : BinaryMatch.Tampered,
            _ => BinaryMatch.NoMatch,
        };
    }
}

internal sealed class CompiledPolicyEntry(string name, CompiledBinary[] binaries)
{
    public string Name { get; } = name;

    /// <summary>
    /// The executable matches an entry, or (for <c>inherit</c> entries) one of its ancestors does.
    /// A tampered or unverifiable match anywhere wins over a clean match elsewhere: the policy
    /// named that file and the file is not what it was.
    /// </summary>
    public BinaryJudgement Judge(in EgressExecutable binary, ImmutableArray<EgressExecutable> ancestors)
    {
        BinaryJudgement? matched = null;
        foreach (var entry in binaries)
        {
            var own = entry.Judge(binary);
            if (own is BinaryMatch.Tampered or BinaryMatch.Unverifiable)
            {
                return new BinaryJudgement(own, entry, binary);
            }

            if (own == BinaryMatch.Match)
            {
                matched ??= new BinaryJudgement(own, entry, binary);
            }

            if (!entry.Inherit || ancestors.IsDefaultOrEmpty)
            {
                continue;
            }

            foreach (var ancestor in ancestors)
            {
                var inherited = entry.Judge(ancestor);
                if (inherited is BinaryMatch.Tampered or BinaryMatch.Unverifiable)
                {
                    return new BinaryJudgement(inherited, entry, ancestor);
                }

                if (inherited == BinaryMatch.Match)
                {
                    matched ??= new BinaryJudgement(inherited, entry, ancestor);
                }
            }
        }

        return matched ?? new BinaryJudgement(BinaryMatch.NoMatch, null, binary);
    }
}

internal sealed class CompiledEndpoint
{
    private static readonly string[] ReadOnlyMethods = ["GET", "HEAD", "OPTIONS"];
    private static readonly string[] ReadWriteMethods = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"];

    private readonly int[] _ports;
    private readonly EgressAccess? _access;
    private readonly L7Rule[] _rules;

    private CompiledEndpoint(
        CompiledPolicyEntry policy, HostPattern host, int[] ports, PathGlob? path, EgressEndpointSpec spec,
        L7Rule[] rules, L7Rule[] denyRules, AddressExceptions exceptions, string label)
    {
        Policy = policy;
        Host = host;
        _ports = ports;
        Path = path;
        Protocol = spec.Protocol;
        Audit = spec.Enforcement == EgressEnforcement.Audit;
        _access = spec.Access;
        _rules = rules;
        DenyRules = denyRules;
        Exceptions = exceptions;
        AllowEncodedSlash = spec.AllowEncodedSlash;
        Label = label;
        NeedsTermination = spec.Protocol != EgressProtocol.None && spec.Tls != EgressTls.Skip;
        var ports0 = string.Join(',', ports);
        TunnelDetail = $"{host.Text}:{ports0} allowed by policy '{policy.Name}' {label}";
        AccessLabel = label + ".access";
        AllowedSummary = spec.Access switch
        {
            EgressAccess.ReadOnly => "access read-only: GET, HEAD, OPTIONS",
            EgressAccess.ReadWrite => "access read-write: GET, HEAD, OPTIONS, POST, PUT, PATCH",
            EgressAccess.Full => "access full",
            null when rules.Length == 0 => "no rules allow any request",
            null => "allowed: " + string.Join("; ", rules.Take(4).Select(r => r.Description)) + (rules.Length > 4 ? "; ..." : ""),
            _ => "unknown access preset",
        };
    }

    public CompiledPolicyEntry Policy { get; }

    public HostPattern Host { get; }

    public PathGlob? Path { get; }

    public EgressProtocol Protocol { get; }

    public string ProtocolName => Protocol switch
    {
        EgressProtocol.None => "none",
        EgressProtocol.Rest => "protocol rest",
        EgressProtocol.WebSocket => "protocol websocket",
        _ => "protocol " + Protocol.ToString(),
    };

    public bool Audit { get; }

    /// <summary>Inspects requests and does not skip TLS: a CONNECT to it cannot be judged yet.</summary>
    public bool NeedsTermination { get; }

    public L7Rule[] DenyRules { get; }

    public AddressExceptions Exceptions { get; }

    public bool AllowEncodedSlash { get; }

    /// <summary><c>endpoints[3]</c>.</summary>
    public string Label { get; }

    public string TunnelDetail { get; }

    public string AccessLabel { get; }

    /// <summary>What this endpoint allows, for deny messages ("GET only").</summary>
    public string AllowedSummary { get; }

    public bool HasPort(int port)
    {
        foreach (var p in _ports)
        {
            if (p == port)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The allow that admits the request, or null. An endpoint without inspection admits any request.</summary>
    public (string Label, string Detail)? Allows(string method, string path, ref QueryView query)
    {
        if (Protocol == EgressProtocol.None)
        {
            return (Label, TunnelDetail);
        }

        if (_access is { } access)
        {
            var allowed = access switch
            {
                EgressAccess.ReadOnly => Array.IndexOf(ReadOnlyMethods, method) >= 0,
                EgressAccess.ReadWrite => Array.IndexOf(ReadWriteMethods, method) >= 0,
                EgressAccess.Full => true,
                _ => false,
            };
            return allowed ? (AccessLabel, AllowedSummary) : null;
        }

        foreach (var rule in _rules)
        {
            if (rule.Matches(method, path, ref query, deny: false))
            {
                return (rule.Label, rule.AllowDetail);
            }
        }

        return null;
    }

    public static CompiledEndpoint? TryCreate(
        CompiledPolicyEntry policy, EgressEndpointSpec spec, int index, string where,
        ImmutableArray<string>.Builder errors, ImmutableArray<string>.Builder warnings)
    {
        var label = $"endpoints[{index.ToString(CultureInfo.InvariantCulture)}]";
        var at = $"{where}: {label}";
        var errorCount = errors.Count;
        var host = HostPattern.TryCreate(spec.Host ?? "", out var hostError);
        if (host is null)
        {
            errors.Add($"{at}.host: {hostError}");
        }

        var ports = spec.Ports.IsDefault ? [] : spec.Ports;
        if (ports.IsEmpty)
        {
            errors.Add($"{at}.port: at least one port is required");
        }

        foreach (var port in ports)
        {
            if (port is < 1 or > 65535)
            {
                errors.Add($"{at}.port: {port.ToString(CultureInfo.InvariantCulture)} is not a TCP port (1..65535)");
            }
        }

        PathGlob? path = null;
        if (spec.Path is not null)
        {
            path = CompilePathGlob(spec.Path, $"{at}.path", errors);
        }

        var inspects = spec.Protocol != EgressProtocol.None;
        var rules = spec.Rules.IsDefault ? [] : spec.Rules;
        var denyRules = spec.DenyRules.IsDefault ? [] : spec.DenyRules;
        if (spec.Access is not null && !rules.IsEmpty)
        {
            errors.Add($"{at}: access and rules are mutually exclusive");
        }

        if (!inspects && (spec.Access is not null || !rules.IsEmpty || !denyRules.IsEmpty))
        {
            errors.Add($"{at}: access, rules and deny_rules need a protocol (rest or websocket) to inspect requests");
        }

        if (spec.Tls == EgressTls.Skip && (spec.Access is not null || !rules.IsEmpty || !denyRules.IsEmpty))
        {
            errors.Add($"{at}: access, rules and deny_rules cannot be enforced with tls: skip");
        }

        var compiledRules = CompileRules(rules, $"{label}.rules", at, errors);
        var compiledDeny = CompileRules(denyRules, $"{label}.deny_rules", at, errors);
        var exceptions = CompileExceptions(spec, host, at, errors, warnings);
        if (errors.Count > errorCount)
        {
            return null;
        }

        return new CompiledEndpoint(policy, host!, [.. ports], path, spec, compiledRules, compiledDeny, exceptions, label);
    }

    private static PathGlob? CompilePathGlob(string text, string at, ImmutableArray<string>.Builder errors)
    {
        // The glob is normalised like request paths ('*' is a plain path character to the
        // normaliser), so "/a/%7Eb" in a policy matches "/a/~b" in a request.
        var source = text is "*" or "**" ? "/" + text : text;
        var problem = RequestPath.Normalize(source, allowEncodedSlash: true, out var normalized);
        if (problem != PathProblem.None)
        {
            errors.Add($"{at}: '{text}': {RequestPath.Describe(problem)}");
            return null;
        }

        var glob = PathGlob.TryCreate(normalized, out var error);
        if (glob is null)
        {
            errors.Add($"{at}: {error}");
        }

        return glob;
    }

    private static L7Rule[] CompileRules(ImmutableArray<EgressRuleSpec> rules, string prefix, string at, ImmutableArray<string>.Builder errors)
    {
        var compiled = new List<L7Rule>(rules.Length);
        for (var i = 0; i < rules.Length; i++)
        {
            var rule = rules[i];
            var label = $"{prefix}[{i.ToString(CultureInfo.InvariantCulture)}]";
            var method = string.IsNullOrEmpty(rule.Method) ? "*" : rule.Method;
            if (method != "*" && !HttpSyntax.IsToken(method))
            {
                errors.Add($"{at}: {label}.method: '{method}' is not an HTTP method");
                continue;
            }

            if (CompilePathGlob(string.IsNullOrEmpty(rule.Path) ? "/**" : rule.Path, $"{at}: {label}.path", errors) is not { } glob)
            {
                continue;
            }

            var query = rule.Query.IsDefault ? [] : rule.Query;
            compiled.Add(new L7Rule(method, glob, [.. query.Select(q => (q.Key, q.Value))], label));
        }

        return [.. compiled];
    }

    private static AddressExceptions CompileExceptions(
        EgressEndpointSpec spec, HostPattern? host, string at, ImmutableArray<string>.Builder errors, ImmutableArray<string>.Builder warnings)
    {
        var literals = new List<IPAddress>();
        if (host?.Exact is { IsAddress: true, Address: { } literal })
        {
            var c = DestinationGuard.Classify(literal);
            if (DestinationGuard.IsHardBlocked(c))
            {
                warnings.Add($"{at}.host: {literal} is {DestinationGuard.Describe(c)} address, which the proxy never dials; this endpoint can never be reached");
            }

            literals.Add(literal);
        }

        var networks = new List<IPNetwork>();
        var allowed = spec.AllowedIps.IsDefault ? [] : spec.AllowedIps;
        foreach (var text in allowed)
        {
            if (!TryParseRange(text, out var network))
            {
                errors.Add($"{at}.allowed_ips: '{text}' is not an IP address or CIDR range (with the host bits zero)");
                continue;
            }

            foreach (var (forbidden, what) in ForbiddenRanges)
            {
                if (Overlaps(forbidden, network))
                {
                    errors.Add($"{at}.allowed_ips: {network} overlaps the {what} range {forbidden}, which no policy may open");
                    break;
                }
            }

            networks.Add(network);
        }

        return literals.Count == 0 && networks.Count == 0 ? AddressExceptions.None : new AddressExceptions([.. literals], [.. networks]);
    }

    private static readonly (IPNetwork Network, string What)[] ForbiddenRanges =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "unspecified"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast"),
        (IPNetwork.Parse("255.255.255.255/32"), "broadcast"),
        (IPNetwork.Parse("::/128"), "unspecified"),
        (IPNetwork.Parse("::1/128"), "loopback"),
        (IPNetwork.Parse("fe80::/10"), "link-local"),
        (IPNetwork.Parse("ff00::/8"), "multicast"),
        (IPNetwork.Parse("::ffff:0.0.0.0/104"), "unspecified"),
        (IPNetwork.Parse("::ffff:127.0.0.0/104"), "loopback"),
        (IPNetwork.Parse("::ffff:169.254.0.0/112"), "link-local"),
    ];

    /// <summary>A CIDR range, or a single address as /32 or /128. Host bits must be zero.</summary>
    private static bool TryParseRange(string text, out IPNetwork network)
    {
        network = default;
        if (!text.Contains('/', StringComparison.Ordinal))
        {
            // No zone id; an IPv4 address only as a dotted quad (IPAddress.TryParse also reads "10.1").
            if (text.Contains('%', StringComparison.Ordinal) || !IPAddress.TryParse(text, out var single)
                || (single.AddressFamily == AddressFamily.InterNetwork && text.Count(c => c == '.') != 3))
            {
                return false;
            }

            network = new IPNetwork(single, single.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return IPNetwork.TryParse(text, out network);
    }

    /// <summary>Two ranges overlap when they agree on the bits of the shorter prefix.</summary>
    private static bool Overlaps(IPNetwork a, IPNetwork b) =>
        a.BaseAddress.AddressFamily == b.BaseAddress.AddressFamily
        && (a.PrefixLength <= b.PrefixLength ? a.Contains(b.BaseAddress) : b.Contains(a.BaseAddress));
}
