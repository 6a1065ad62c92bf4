using System.Collections.Immutable;
using System.Net;
using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>The private-address guard over resolved addresses (ATTACKS.md PXD-03, PXD-05, PXD-06).</summary>
public sealed class DestinationGuardTests
{
    [Theory]
    [InlineData("8.8.8.8", nameof(AddressClass.Public))]
    [InlineData("140.82.112.6", nameof(AddressClass.Public))]
    [InlineData("203.0.113.7", nameof(AddressClass.Public))]         // documentation range: not special here
    [InlineData("0.0.0.0", nameof(AddressClass.Unspecified))]
    [InlineData("0.1.2.3", nameof(AddressClass.Unspecified))]
    [InlineData("127.0.0.1", nameof(AddressClass.Loopback))]
    [InlineData("127.255.255.254", nameof(AddressClass.Loopback))]
    [InlineData("169.254.169.254", nameof(AddressClass.CloudMetadata))]
    [InlineData("169.254.1.1", nameof(AddressClass.LinkLocal))]
    [InlineData("100.100.100.200", nameof(AddressClass.CloudMetadata))]
    [InlineData("10.0.0.1", nameof(AddressClass.Private))]
    [InlineData("172.16.0.1", nameof(AddressClass.Private))]
    [InlineData("172.31.255.255", nameof(AddressClass.Private))]
    [InlineData("172.32.0.1", nameof(AddressClass.Public))]
    [InlineData("192.168.1.1", nameof(AddressClass.Private))]
    [InlineData("100.64.0.1", nameof(AddressClass.SharedAddressSpace))]
    [InlineData("100.127.255.255", nameof(AddressClass.SharedAddressSpace))]
    [InlineData("100.128.0.1", nameof(AddressClass.Public))]
    [InlineData("224.0.0.1", nameof(AddressClass.Multicast))]
    [InlineData("239.255.255.250", nameof(AddressClass.Multicast))]
    [InlineData("255.255.255.255", nameof(AddressClass.Broadcast))]
    [InlineData("240.0.0.1", nameof(AddressClass.Reserved))]
    [InlineData("192.0.0.170", nameof(AddressClass.Reserved))]
    [InlineData("198.18.0.1", nameof(AddressClass.Reserved))]
    [InlineData("::", nameof(AddressClass.Unspecified))]
    [InlineData("::1", nameof(AddressClass.Loopback))]
    [InlineData("fe80::1", nameof(AddressClass.LinkLocal))]
    [InlineData("febf::1", nameof(AddressClass.LinkLocal))]
    [InlineData("fec0::1", nameof(AddressClass.SiteLocal))]
    [InlineData("fc00::1", nameof(AddressClass.UniqueLocal))]
    [InlineData("fd12:3456::1", nameof(AddressClass.UniqueLocal))]
    [InlineData("fd00:ec2::254", nameof(AddressClass.CloudMetadata))]
    [InlineData("ff02::1", nameof(AddressClass.Multicast))]
    [InlineData("2606:4700::1111", nameof(AddressClass.Public))]
    [InlineData("100::1", nameof(AddressClass.Reserved))]
    // IPv6 forms that carry an IPv4 address take its class
    [InlineData("::ffff:127.0.0.1", nameof(AddressClass.Loopback))]
    [InlineData("::ffff:169.254.169.254", nameof(AddressClass.CloudMetadata))]
    [InlineData("::ffff:10.0.0.1", nameof(AddressClass.Private))]
    [InlineData("::ffff:8.8.8.8", nameof(AddressClass.Public))]
    [InlineData("::127.0.0.1", nameof(AddressClass.Loopback))]              // IPv4-compatible (deprecated)
    [InlineData("::8.8.8.8", nameof(AddressClass.Reserved))]
    [InlineData("::ffff:0:127.0.0.1", nameof(AddressClass.Loopback))]       // SIIT
    [InlineData("64:ff9b::7f00:1", nameof(AddressClass.Loopback))]          // NAT64
    [InlineData("64:ff9b::a9fe:a9fe", nameof(AddressClass.CloudMetadata))]
    [InlineData("64:ff9b::808:808", nameof(AddressClass.Public))]
    [InlineData("64:ff9b:1::1", nameof(AddressClass.Reserved))]
    [InlineData("2002:7f00:1::", nameof(AddressClass.Loopback))]            // 6to4
    [InlineData("2002:c0a8:101::1", nameof(AddressClass.Private))]
    [InlineData("2002:808:808::1", nameof(AddressClass.Public))]
    [InlineData("2001:0:4136:e378:8000:63bf:80ff:fffe", nameof(AddressClass.Loopback))] // Teredo, client ~0x80fffffe = 127.0.0.1
    public void Classify(string address, string expected) =>
        Assert.Equal(Enum.Parse<AddressClass>(expected), DestinationGuard.Classify(IPAddress.Parse(address)));

    private static EgressDecision Allowed(EgressEndpointSpec endpoint, string host, int port = 80)
    {
        var policy = new EgressPolicySpec("p", [endpoint], [new EgressBinarySpec("/usr/bin/curl")]);
        var compiled = CompiledEgressPolicy.Compile([policy]);
        Assert.True(compiled.Ok, string.Join("\n", compiled.Errors));
        var decision = compiled.Policy!.Evaluate(new EgressRequest
        {
            Host = host,
            Port = port,
            Binary = new EgressExecutable("/usr/bin/curl", null),
        });
        Assert.Equal(EgressVerdict.Allow, decision.Verdict);
        return decision;
    }

    private static DestinationVerdict Check(EgressDecision decision, params string[] addresses) =>
        DestinationGuard.Check(decision, addresses.Select(IPAddress.Parse).ToArray());

    [Fact]
    public void PublicAddressesPass()
    {
        var decision = Allowed(new EgressEndpointSpec("api.example.com", [80]), "api.example.com");
        Assert.True(Check(decision, "93.184.216.34", "2606:2800:220:1::1").Allowed);
    }

    [Theory] // PXD-06: a name resolving to any private address is refused, even with public ones beside it
    [InlineData("127.0.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("10.1.2.3")]
    [InlineData("100.64.1.1")]
    [InlineData("fd00::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("0.0.0.0")]
    public void RebindingToAPrivateAddressIsRefused(string address)
    {
        var decision = Allowed(new EgressEndpointSpec("*.canary.example", [80]), "rebind.canary.example");
        var verdict = Check(decision, "203.0.113.7", address);
        Assert.False(verdict.Allowed);
        Assert.NotNull(verdict.Refused);
        Assert.Contains("rebind.canary.example", verdict.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void AllowedIpsOpenPrivateRanges()
    {
        var endpoint = new EgressEndpointSpec("db.internal.example", [5432]) { AllowedIps = ["10.20.0.0/16", "fd00:1::5"] };
        var decision = Allowed(endpoint, "db.internal.example", 5432);
        Assert.True(Check(decision, "10.20.3.4").Allowed);
        Assert.True(Check(decision, "::ffff:10.20.3.4").Allowed);
        Assert.True(Check(decision, "fd00:1::5").Allowed);
        Assert.False(Check(decision, "10.21.0.1").Allowed);
        Assert.False(Check(decision, "fd00:1::6").Allowed);
        Assert.False(Check(decision, "127.0.0.1").Allowed);
    }

    [Fact]
    public void AnEndpointNamingAPrivateAddressLiterallyOpensThatAddressOnly()
    {
        var decision = Allowed(new EgressEndpointSpec("10.0.0.5", [8080]), "0xa000005", 8080);
        Assert.Equal("10.0.0.5", decision.Host);
        Assert.True(Check(decision, "10.0.0.5").Allowed);
        Assert.False(Check(decision, "10.0.0.6").Allowed);
    }

    [Theory] // PXD-03 and PXD-05: loopback, link-local and metadata stay blocked even when listed
    [InlineData("127.0.0.1", "2130706433")]
    [InlineData("127.0.0.1", "0177.0.0.1")]
    [InlineData("127.0.0.1", "[::ffff:127.0.0.1]")]
    [InlineData("169.254.169.254", "0251.254.169.254")]
    [InlineData("169.254.169.254", "2852039166")]
    [InlineData("0.0.0.0", "0")]
    [InlineData("::1", "[::1]")]
    public void HardBlockedAddressesStayBlockedWhenListedLiterally(string listed, string spelling)
    {
        var compiled = CompiledEgressPolicy.Compile([new EgressPolicySpec("p", [new EgressEndpointSpec(listed, [80])], [new EgressBinarySpec("/usr/bin/curl")])]);
        Assert.True(compiled.Ok);
        Assert.Contains(compiled.Warnings, w => w.Contains("never dials", StringComparison.Ordinal));
        var decision = compiled.Policy!.Evaluate(new EgressRequest { Host = spelling, Port = 80, Binary = new("/usr/bin/curl", null) });
        Assert.Equal(EgressVerdict.Allow, decision.Verdict); // the policy names it...
        var address = IPAddress.Parse(decision.Host);
        var verdict = DestinationGuard.Check(decision, [address]);
        Assert.False(verdict.Allowed); // ...the guard never dials it
        Assert.True(DestinationGuard.IsHardBlocked(verdict.Class));
    }

    [Theory]
    [InlineData("127.0.0.0/8")]
    [InlineData("127.0.0.1")]
    [InlineData("0.0.0.0/0")]
    [InlineData("169.254.0.0/16")]
    [InlineData("169.254.169.254/32")]
    [InlineData("::1")]
    [InlineData("::/0")]
    [InlineData("fe80::/64")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("224.0.0.0/8")]
    [InlineData("not-an-ip")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.1")]
    public void AllowedIpsCannotCoverHardBlockedRanges(string range)
    {
        var endpoint = new EgressEndpointSpec("x.example.com", [80]) { AllowedIps = [range] };
        var compiled = CompiledEgressPolicy.Compile([new EgressPolicySpec("p", [endpoint], [new EgressBinarySpec("/usr/bin/curl")])]);
        Assert.False(compiled.Ok);
        Assert.Contains(compiled.Errors, e => e.Contains("allowed_ips", StringComparison.Ordinal));
    }

    [Fact]
    public void ADeniedDecisionOpensNothing()
    {
        var compiled = CompiledEgressPolicy.Compile(ImmutableArray<EgressPolicySpec>.Empty).Policy!;
        var decision = compiled.Evaluate(new EgressRequest { Host = "example.com", Port = 80, Binary = new("/usr/bin/curl", null) });
        Assert.False(DestinationGuard.Check(decision, [IPAddress.Parse("8.8.8.8")]).Allowed);
    }

    [Fact]
    public void NoAddressesIsARefusal()
    {
        var decision = Allowed(new EgressEndpointSpec("api.example.com", [80]), "api.example.com");
        Assert.False(DestinationGuard.Check(decision, []).Allowed);
    }
}
