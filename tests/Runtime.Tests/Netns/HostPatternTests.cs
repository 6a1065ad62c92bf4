using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>Endpoint host globs: what each form matches, and the forms refused at load.</summary>
public sealed class HostPatternTests
{
    private static bool Matches(string pattern, string host)
    {
        var compiled = HostPattern.TryCreate(pattern, out var error);
        Assert.True(compiled is not null, error);
        Assert.True(HostName.TryCanonicalize(host, out var canonical), host);
        return compiled!.IsMatch(canonical);
    }

    [Theory]
    // exact: case-insensitive, trailing dot ignored on either side
    [InlineData("api.github.com", "api.github.com", true)]
    [InlineData("api.github.com", "API.GITHUB.COM", true)]
    [InlineData("api.github.com", "api.github.com.", true)]
    [InlineData("API.github.com.", "api.github.com", true)]
    [InlineData("api.github.com", "github.com", false)]
    [InlineData("api.github.com", "xapi.github.com", false)]
    [InlineData("api.github.com", "api.github.com.evil.com", false)]
    // '*' as the whole first label: exactly one label
    [InlineData("*.example.com", "a.example.com", true)]
    [InlineData("*.example.com", "A.Example.COM.", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "a.b.example.com", false)]
    [InlineData("*.example.com", "a.example.org", false)]
    [InlineData("*.example.com", "aexample.com", false)]
    // '*' inside the first label
    [InlineData("api-*.example.com", "api-eu.example.com", true)]
    [InlineData("api-*.example.com", "api-.example.com", true)]
    [InlineData("api-*.example.com", "api.example.com", false)]
    [InlineData("api-*.example.com", "api-eu.x.example.com", false)]
    [InlineData("*-api.example.com", "eu-api.example.com", true)]
    [InlineData("a*b*c.example.com", "aXXbYYc.example.com", true)]
    [InlineData("a*b*c.example.com", "aXXbYYcd.example.com", false)]
    // '**' as the whole first label: one or more labels, never the apex
    [InlineData("**.example.com", "a.example.com", true)]
    [InlineData("**.example.com", "a.b.c.example.com", true)]
    [InlineData("**.example.com", "example.com", false)]
    [InlineData("**.example.com", "badexample.com", false)]
    [InlineData("**.example.com", "a.example.com.evil.net", false)]
    // '*' as a whole middle label
    [InlineData("api.*.example.com", "api.eu.example.com", true)]
    [InlineData("api.*.example.com", "api.example.com", false)]
    [InlineData("api.*.example.com", "api.a.b.example.com", false)]
    [InlineData("api.*.example.com", "web.eu.example.com", false)]
    [InlineData("*.*.example.com", "a.b.example.com", true)]
    // wildcards never match addresses; addresses match only literally
    [InlineData("*.example.com", "127.0.0.1", false)]
    [InlineData("127.0.0.1", "2130706433", true)]
    [InlineData("127.0.0.1", "[::ffff:127.0.0.1]", true)]
    [InlineData("10.1.2.3", "10.1.2.3", true)]
    [InlineData("::1", "[0::1]", true)]
    [InlineData("api.github.com", "140.82.112.6", false)]
    public void Matching(string pattern, string host, bool expected) => Assert.Equal(expected, Matches(pattern, host));

    [Theory]
    [InlineData("*")]
    [InlineData("**")]
    [InlineData("*.com")]            // TLD wildcard
    [InlineData("**.com")]
    [InlineData("*.co.*")]
    [InlineData("example.*")]
    [InlineData("api.*.com")]        // one literal label after the wildcard
    [InlineData("a.b*.example.com")] // partial middle label
    [InlineData("a.*b.example.com")]
    [InlineData("a.**.example.com")] // '**' not first
    [InlineData("a**.example.com")]  // partial '**'
    [InlineData("***.example.com")]
    [InlineData("*.1.2.3")]          // wildcard over an address
    [InlineData("10.0.0.*")]
    [InlineData("*.exa mple.com")]
    [InlineData("*..example.com")]
    [InlineData("exa%6dple.com")]
    [InlineData("1.2.3.256")]
    [InlineData("")]
    public void RefusedAtLoad(string pattern)
    {
        Assert.Null(HostPattern.TryCreate(pattern, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Theory]
    [InlineData("*.example.com", "example.com")]
    [InlineData("**.example.com", "example.com")]
    [InlineData("api.*.example.com", "example.com")]
    [InlineData("*.*.eu.example.com", "eu.example.com")]
    [InlineData("api-*.svc.example.com", "svc.example.com")]
    public void WildcardsAreIndexedByTheirLiteralSuffix(string pattern, string suffix)
    {
        var compiled = HostPattern.TryCreate(pattern, out _)!;
        Assert.True(compiled.IsWildcard);
        Assert.Equal(suffix, compiled.LiteralSuffix);
    }

    [Fact]
    public void MatchingAgreesWithALabelByLabelReference()
    {
        string[] patterns = ["*.b.c", "**.b.c", "a*.b.c", "*a.b.c", "a.*.c.d", "*.*.c.d", "**.a.c.d", "x*y.b.c", "*.b.c.d"];
        string[] labels = ["a", "b", "c", "d", "xy", "xay", "ba", "ab"];
        var random = new Random(17);
        foreach (var pattern in patterns)
        {
            var compiled = HostPattern.TryCreate(pattern, out var error);
            Assert.True(compiled is not null, error);
            var parts = pattern.Split('.');
            for (var i = 0; i < 3_000; i++)
            {
                var host = string.Join('.', Enumerable.Range(0, random.Next(1, 6)).Select(_ => labels[random.Next(labels.Length)]));
                Assert.True(HostName.TryCanonicalize(host, out var canonical));
                Assert.True(Reference(parts, host.Split('.')) == compiled!.IsMatch(canonical), $"{pattern} vs {host}");
            }
        }
    }

    private static bool Reference(string[] pattern, string[] host)
    {
        static bool Label(string p, string h) => p == "*" || System.Text.RegularExpressions.Regex.IsMatch(
            h, "^" + System.Text.RegularExpressions.Regex.Escape(p).Replace("\\*", ".*", StringComparison.Ordinal) + "$");

        if (pattern[0] == "**")
        {
            var rest = pattern.Length - 1;
            return host.Length > rest && pattern.Skip(1).Zip(host.Skip(host.Length - rest)).All(pair => pair.First == pair.Second);
        }

        return host.Length == pattern.Length && pattern.Zip(host).All(pair => Label(pair.First, pair.Second));
    }
}
