using System.Net;
using System.Net.Sockets;

namespace Sandboxrun.Netns.Egress;

/// <summary>What kind of address a destination is, as far as dialling it from the host goes.</summary>
internal enum AddressClass
{
    Public,

    // Never dialled, whatever the policy says (hard block).
    Loopback,
    LinkLocal,
    CloudMetadata,
    Unspecified,
    Multicast,
    Broadcast,

    // Dialled only when an endpoint names the address literally or its allowed_ips cover it.
    Private,
    SharedAddressSpace,
    UniqueLocal,
    SiteLocal,
    Reserved,
}

/// <summary>The outcome of checking resolved addresses: the addresses to dial, or the one refused.</summary>
internal readonly record struct DestinationVerdict(bool Allowed, IPAddress? Refused, AddressClass Class, string Detail);

/// <summary>
/// The private-address (SSRF) guard, a pure function of the allowing decision and the resolved
/// addresses. The proxy resolves the name itself, calls this with every address the lookup
/// returned, and dials only those addresses (no second lookup, so a rebinding answer cannot slip
/// in between check and connect). One refused address refuses the destination: a name that
/// resolves to a private address is suspect even when it also has public ones.
/// </summary>
internal static class DestinationGuard
{
    /// <summary>Classes no endpoint or allowed_ips entry can open.</summary>
    public static bool IsHardBlocked(AddressClass c) => c is AddressClass.Loopback or AddressClass.LinkLocal
        or AddressClass.CloudMetadata or AddressClass.Unspecified or AddressClass.Multicast or AddressClass.Broadcast;

    /// <summary>
    /// Checks <paramref name="resolved"/> for the destination <paramref name="decision"/> allowed.
    /// A private-class address passes when an allowing endpoint's host is that address literally
    /// or one of its allowed_ips ranges contains it; hard-blocked classes never pass.
    /// </summary>
    public static DestinationVerdict Check(EgressDecision decision, IReadOnlyList<IPAddress> resolved)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(resolved);
        if (decision.Verdict == EgressVerdict.Deny)
        {
            return new DestinationVerdict(false, null, AddressClass.Public, "the destination is not allowed by policy");
        }

        if (resolved.Count == 0)
        {
            return new DestinationVerdict(false, null, AddressClass.Public, $"{decision.Host} did not resolve to any address");
        }

        foreach (var raw in resolved)
        {
            var address = raw.IsIPv4MappedToIPv6 ? raw.MapToIPv4() : raw;
            var c = Classify(address);
            if (c == AddressClass.Public)
            {
                continue;
            }

            if (IsHardBlocked(c))
            {
                return new DestinationVerdict(false, address, c, $"{decision.Host} resolves to {Describe(c)} address, which is never reachable through the proxy");
            }

            if (!decision.Exceptions.Covers(address))
            {
                return new DestinationVerdict(false, address, c, $"{decision.Host} resolves to {Describe(c)} address; list it in the endpoint's allowed_ips to allow it");
            }
        }

        return new DestinationVerdict(true, null, AddressClass.Public, "");
    }

    public static string Describe(AddressClass c) => c switch
    {
        AddressClass.Public => "a public",
        AddressClass.Loopback => "a loopback",
        AddressClass.LinkLocal => "a link-local",
        AddressClass.CloudMetadata => "a cloud metadata",
        AddressClass.Unspecified => "an unspecified (this-host)",
        AddressClass.Multicast => "a multicast",
        AddressClass.Broadcast => "the broadcast",
        AddressClass.Private => "a private (RFC 1918)",
        AddressClass.SharedAddressSpace => "a carrier-grade NAT (RFC 6598)",
        AddressClass.UniqueLocal => "a unique local IPv6 (RFC 4193)",
        AddressClass.SiteLocal => "a site-local IPv6",
        AddressClass.Reserved => "a reserved",
        _ => "an unclassified",
    };

    /// <summary>
    /// The class of an address. IPv6 forms that carry an IPv4 address (mapped ::ffff:0:0/96,
    /// compatible ::/96, SIIT ::ffff:0:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo
    /// 2001::/32) take the class of the IPv4 address inside, so ::ffff:127.0.0.1 and
    /// 2002:7f00:1:: are loopback. Sources: the IANA IPv4 and IPv6 Special-Purpose Address
    /// Registries (RFC 6890).
    /// </summary>
    public static AddressClass Classify(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> b = stackalloc byte[16];
        if (!address.TryWriteBytes(b, out var length))
        {
            return AddressClass.Reserved;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork && length == 4)
        {
            return ClassifyIPv4((uint)((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]));
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 && length == 16
            ? ClassifyIPv6(b)
            : AddressClass.Reserved;
    }

    private static AddressClass ClassifyIPv4(uint a)
    {
        static bool In(uint a, uint network, int prefix) => prefix == 0 || (a >> (32 - prefix)) == (network >> (32 - prefix));

        return a switch
        {
            _ when a == 0xFFFFFFFF => AddressClass.Broadcast,
            _ when In(a, 0x00000000, 8) => AddressClass.Unspecified,         // 0.0.0.0/8 "this network"; Linux connects 0.0.0.0 to loopback
            _ when In(a, 0x7F000000, 8) => AddressClass.Loopback,            // 127.0.0.0/8
            _ when a == 0xA9FEA9FE => AddressClass.CloudMetadata,            // 169.254.169.254 (AWS, GCP, Azure, OCI)
            _ when In(a, 0xA9FE0000, 16) => AddressClass.LinkLocal,          // 169.254.0.0/16
            _ when a == 0x646464C8 => AddressClass.CloudMetadata,            // 100.100.100.200 (Alibaba Cloud)
            _ when In(a, 0xE0000000, 4) => AddressClass.Multicast,           // 224.0.0.0/4
            _ when In(a, 0x0A000000, 8) => AddressClass.Private,             // 10.0.0.0/8
            _ when In(a, 0xAC100000, 12) => AddressClass.Private,            // 172.16.0.0/12
            _ when In(a, 0xC0A80000, 16) => AddressClass.Private,            // 192.168.0.0/16
            _ when In(a, 0x64400000, 10) => AddressClass.SharedAddressSpace, // 100.64.0.0/10
            _ when In(a, 0xC0000000, 24) => AddressClass.Reserved,           // 192.0.0.0/24 IETF protocol assignments
            _ when In(a, 0xC6120000, 15) => AddressClass.Reserved,           // 198.18.0.0/15 benchmarking
            _ when In(a, 0xC0586300, 24) => AddressClass.Reserved,           // 192.88.99.0/24 6to4 relay anycast
            _ when In(a, 0xF0000000, 4) => AddressClass.Reserved,            // 240.0.0.0/4
            _ => AddressClass.Public,
        };
    }

    private static AddressClass ClassifyIPv6(ReadOnlySpan<byte> b)
    {
        static uint V4(ReadOnlySpan<byte> b, int at) => (uint)((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);

        var firstTen = b[..10].IndexOfAnyExcept((byte)0) < 0;
        if (firstTen && b[10] == 0xFF && b[11] == 0xFF)
        {
            return ClassifyIPv4(V4(b, 12)); // ::ffff:0:0/96 IPv4-mapped (RFC 4291 §2.5.5.2)
        }

        if (b[..12].IndexOfAnyExcept((byte)0) < 0)
        {
            var tail = V4(b, 12);
            return tail switch
            {
                0 => AddressClass.Unspecified,  // ::
                1 => AddressClass.Loopback,     // ::1
                _ => Worst(ClassifyIPv4(tail), AddressClass.Reserved), // ::/96 IPv4-compatible, deprecated (RFC 4291 §2.5.5.1)
            };
        }

        if (b[..8].IndexOfAnyExcept((byte)0) < 0 && b[8] == 0xFF && b[9] == 0xFF && b[10] == 0 && b[11] == 0)
        {
            return Worst(ClassifyIPv4(V4(b, 12)), AddressClass.Reserved); // ::ffff:0:0:0/96 SIIT (RFC 2765)
        }

        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B)
        {
            if (b[4..12].IndexOfAnyExcept((byte)0) < 0)
            {
                return ClassifyIPv4(V4(b, 12)); // 64:ff9b::/96 NAT64 well-known prefix (RFC 6052)
            }

            return b[4] == 0 && b[5] == 1 ? AddressClass.Reserved : AddressClass.Public; // 64:ff9b:1::/48 local-use (RFC 8215)
        }

        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return ClassifyIPv4(V4(b, 2)); // 2002::/16 6to4 (RFC 3056)
        }

        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
        {
            // 2001::/32 Teredo (RFC 4380): server at bits 32..63, client obfuscated (inverted) in the last 32 bits.
            return Worst(ClassifyIPv4(~V4(b, 12)), ClassifyIPv4(V4(b, 4)));
        }

        if (b[0] == 0xFD && b[1] == 0x00 && b[2] == 0x0E && b[3] == 0xC2 && b[4..14].IndexOfAnyExcept((byte)0) < 0 && b[14] == 0x02 && b[15] == 0x54)
        {
            return AddressClass.CloudMetadata; // fd00:ec2::254 (AWS instance metadata over IPv6)
        }

        if (b[0] == 0xFF)
        {
            return AddressClass.Multicast; // ff00::/8
        }

        if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80)
        {
            return AddressClass.LinkLocal; // fe80::/10
        }

        if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0)
        {
            return AddressClass.SiteLocal; // fec0::/10, deprecated (RFC 3879)
        }

        if ((b[0] & 0xFE) == 0xFC)
        {
            return AddressClass.UniqueLocal; // fc00::/7
        }

        if (b[0] == 0x01 && b[1..8].IndexOfAnyExcept((byte)0) < 0)
        {
            return AddressClass.Reserved; // 100::/64 discard-only (RFC 6666)
        }

        return AddressClass.Public;
    }

    /// <summary>The more restrictive of two classes: hard blocks first, then private kinds, then public.</summary>
    private static AddressClass Worst(AddressClass a, AddressClass b)
    {
        static int Rank(AddressClass c) => IsHardBlocked(c) ? 2 : c == AddressClass.Public ? 0 : 1;
        return Rank(a) >= Rank(b) ? a : b;
    }
}
