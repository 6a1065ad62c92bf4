using System.Net;

namespace Sandboxrun.Netns.Egress;

/// <summary>
/// The answer to one <see cref="EgressRequest"/>: allow, deny, or allow-in-audit, with the policy
/// and rule that decided it and a human reason. Immutable; a value, never an exception.
/// </summary>
public sealed class EgressDecision
{
    internal EgressDecision(
        EgressVerdict verdict,
        EgressReason reason,
        EgressLayer layer,
        string host,
        int port,
        string? policy,
        string? rule,
        string detail,
        string? normalizedPath,
        long generation,
        AddressExceptions exceptions)
    {
        Verdict = verdict;
        Reason = reason;
        Layer = layer;
        Host = host;
        Port = port;
        Policy = policy;
        Rule = rule;
        Detail = detail;
        NormalizedPath = normalizedPath;
        Generation = generation;
        Exceptions = exceptions;
    }

    public EgressVerdict Verdict { get; }

    public EgressReason Reason { get; }

    /// <summary>l4 when decided on host, port and binary; l7 when decided on the request.</summary>
    public EgressLayer Layer { get; }

    /// <summary>The destination host in canonical spelling (as given when it is not a valid host).</summary>
    public string Host { get; }

    public int Port { get; }

    /// <summary>Name of the deciding policy; null when none applies.</summary>
    public string? Policy { get; }

    /// <summary>Where in that policy: <c>endpoints[0]</c>, <c>endpoints[0].rules[2]</c>, <c>endpoints[1].deny_rules[0]</c>, <c>binaries[0]</c>.</summary>
    public string? Rule { get; }

    /// <summary>Why, in words; for <see cref="EgressVerdict.AuditAllow"/>, what would have been denied. Never contains the query.</summary>
    public string Detail { get; }

    /// <summary>For an L7 request that passed normalisation: the path to send upstream (the one judged).</summary>
    public string? NormalizedPath { get; }

    /// <summary>The generation of the compiled policy that decided (hot reload re-checks older ones).</summary>
    public long Generation { get; }

    public bool IsAllowed => Verdict != EgressVerdict.Deny;

    /// <summary>Private addresses the allowing endpoints name literally or through allowed_ips.</summary>
    internal AddressExceptions Exceptions { get; }

    public override string ToString() =>
        $"{Verdict} {Layer} {Host}:{Port} policy={Policy ?? "-"} rule={Rule ?? "-"} ({Reason}): {Detail}";
}

/// <summary>Addresses in private classes that an allowing endpoint opens: its literal address and allowed_ips.</summary>
internal sealed class AddressExceptions
{
    public static readonly AddressExceptions None = new([], []);

    private readonly IPAddress[] _literals;
    private readonly IPNetwork[] _networks;

    public AddressExceptions(IPAddress[] literals, IPNetwork[] networks)
    {
        _literals = literals;
        _networks = networks;
    }

    public bool IsEmpty => _literals.Length == 0 && _networks.Length == 0;

    public bool Covers(IPAddress address)
    {
        foreach (var literal in _literals)
        {
            if (literal.Equals(address))
            {
                return true;
            }
        }

        foreach (var network in _networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    public static AddressExceptions Union(AddressExceptions a, AddressExceptions b) =>
        a.IsEmpty || ReferenceEquals(a, b) ? b
        : b.IsEmpty ? a
        : new AddressExceptions([.. a._literals, .. b._literals], [.. a._networks, .. b._networks]);
}
