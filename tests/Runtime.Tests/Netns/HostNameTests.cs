using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>Canonical host spellings: names, and every way to write an IP address (ATTACKS.md PXD-03).</summary>
public sealed class HostNameTests
{
    [Theory]
    // PXD-03: every spelling is the address it names.
    [InlineData("2130706433", "127.0.0.1")]
    [InlineData("0x7f000001", "127.0.0.1")]
    [InlineData("0X7F000001", "127.0.0.1")]
    [InlineData("0177.0.0.1", "127.0.0.1")]
    [InlineData("127.1", "127.0.0.1")]
    [InlineData("127.0.1", "127.0.0.1")]
    [InlineData("0x7f.1", "127.0.0.1")]
    [InlineData("0x7f.0.0.0x1", "127.0.0.1")]
    [InlineData("0", "0.0.0.0")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("127.000.000.001", "127.0.0.1")]
    [InlineData("2852039166", "169.254.169.254")]
    [InlineData("0251.254.169.254", "169.254.169.254")]
    [InlineData("0xa9.0xfe.0xa9.0xfe", "169.254.169.254")]
    [InlineData("127.0.0.1.", "127.0.0.1")]
    [InlineData("10.0.0.1", "10.0.0.1")]
    [InlineData("0x", "0.0.0.0")]
    // IPv6, bracketed or bare; IPv4-mapped is the IPv4 address.
    [InlineData("[::1]", "::1")]
    [InlineData("::1", "::1")]
    [InlineData("[0:0:0:0:0:0:0:1]", "::1")]
    [InlineData("[::ffff:127.0.0.1]", "127.0.0.1")]
    [InlineData("[::ffff:7f00:1]", "127.0.0.1")]
    [InlineData("[::FFFF:a9fe:a9fe]", "169.254.169.254")]
    [InlineData("[2001:DB8::1]", "2001:db8::1")]
    [InlineData("[fe80:0::1]", "fe80::1")]
    public void AddressSpellingsCanonicalise(string raw, string expected)
    {
        Assert.True(HostName.TryCanonicalize(raw, out var host));
        Assert.True(host.IsAddress);
        Assert.Equal(expected, host.Text);
        Assert.Equal(expected, host.Address!.ToString());
    }

    [Theory]
    [InlineData("API.GitHub.com", "api.github.com")]
    [InlineData("api.github.com.", "api.github.com")]
    [InlineData("localhost", "localhost")]
    [InlineData("_dmarc.example.com", "_dmarc.example.com")]
    [InlineData("xn--bcher-kva.example", "xn--bcher-kva.example")]
    [InlineData("1.2.3.example", "1.2.3.example")]
    [InlineData("0x7f.example", "0x7f.example")]
    public void NamesAreLowercaseWithoutTrailingDot(string raw, string expected)
    {
        Assert.True(HostName.TryCanonicalize(raw, out var host));
        Assert.Equal(HostKind.Name, host.Kind);
        Assert.Equal(expected, host.Text);
    }

    [Fact]
    public void ACanonicalNameIsReturnedWithoutCopying()
    {
        const string name = "api.github.com";
        Assert.True(HostName.TryCanonicalize(name, out var host));
        Assert.Same(name, host.Text);
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("example.com..")]
    [InlineData("a..b")]
    [InlineData(".example.com")]
    [InlineData("1.2.3.256")]      // ends in a number but is no IPv4 address
    [InlineData("256.1.1.1")]
    [InlineData("1.2.3.4.5")]
    [InlineData("4294967296")]     // 2^32
    [InlineData("99999999999999999999999")]
    [InlineData("foo.123")]
    [InlineData("foo.0x1")]
    [InlineData("08.1.1.1")]       // '8' is no octal digit
    [InlineData("1.2.3.09")]
    [InlineData("exa mple.com")]
    [InlineData("example.com:443")]
    [InlineData("user@example.com")]
    [InlineData("ex%61mple.com")]
    [InlineData("bücher.example")]
    [InlineData("*.example.com")]
    [InlineData("[example.com]")]
    [InlineData("[127.0.0.1]")]
    [InlineData("[::1")]
    [InlineData("[]")]
    [InlineData("[fe80::1%25eth0]")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[::1]:443")]
    [InlineData("::g")]
    public void InvalidHostsAreRefused(string raw) => Assert.False(HostName.TryCanonicalize(raw, out _));

    [Fact]
    public void LabelAndNameLengthLimits()
    {
        Assert.True(HostName.TryCanonicalize(new string('a', 63) + ".com", out _));
        Assert.False(HostName.TryCanonicalize(new string('a', 64) + ".com", out _));
        var longName = string.Join('.', Enumerable.Repeat(new string('a', 62), 4)) + ".com"; // 255 characters
        Assert.False(HostName.TryCanonicalize(longName, out _));
    }
}
