using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>Path normalisation and the encodings that deny a request (ATTACKS.md PXP-04).</summary>
public sealed class RequestPathTests
{
    [Theory]
    [InlineData("/", "/")]
    [InlineData("/v1/models", "/v1/models")]
    [InlineData("/v1/models/", "/v1/models/")]
    [InlineData("//admin", "/admin")]
    [InlineData("/v1//models///x", "/v1/models/x")]
    [InlineData("/v1/./models", "/v1/models")]
    [InlineData("/v1/models/.", "/v1/models/")]
    [InlineData("/v1/models/../admin", "/v1/admin")]
    [InlineData("/v1/models/..", "/v1/")]
    [InlineData("/V1/MODELS/../admin", "/V1/admin")]
    [InlineData("/v1/models/..;/admin", "/v1/admin")]           // ";params" cut before dot-segments
    [InlineData("/v1/models;x=/../../admin", "/admin")]
    [InlineData("/v1/models;jsessionid=abc", "/v1/models")]
    [InlineData("/%7Euser/%61%62c", "/~user/abc")]              // unreserved octets decoded
    [InlineData("/a%2db%5fc", "/a-b_c")]
    [InlineData("/a%20b", "/a%20b")]                            // reserved or other octets kept, hex uppercased
    [InlineData("/A%2fB", "/A%2FB")]
    [InlineData("/q%3fx", "/q%3Fx")]
    [InlineData("/caf%C3%A9", "/caf%C3%A9")]                    // valid UTF-8 kept encoded
    [InlineData("/%25", "/%25")]                                // a lone encoded '%' is fine
    [InlineData("/a/b:c@d!$&'()*+,=", "/a/b:c@d!$&'()*+,=")]
    [InlineData("/a/...", "/a/...")]                            // "..." is a name, not a dot-segment
    public void Normalises(string raw, string expected)
    {
        var problem = RequestPath.Normalize(raw, allowEncodedSlash: raw.Contains("%2F", StringComparison.OrdinalIgnoreCase), out var normalized);
        Assert.Equal(PathProblem.None, problem);
        Assert.Equal(expected, normalized);
    }

    [Theory]
    // PXP-04
    [InlineData("/v1/models/%2e%2e/admin", nameof(PathProblem.EncodedDot))]
    [InlineData("/v1/models/%2E%2e%2Fadmin", nameof(PathProblem.EncodedDot))]
    [InlineData("/v1/models/%252e%252e/admin", nameof(PathProblem.DoubleEncoding))]
    [InlineData("/v1/models/%25%32e/admin", nameof(PathProblem.DoubleEncoding))]  // "%2e" once the digits are decoded
    [InlineData("/v1/models\\..\\admin", nameof(PathProblem.Backslash))]
    [InlineData("/v1/models/%5c..%5cadmin", nameof(PathProblem.Backslash))]
    [InlineData("/v1/models/%00/../admin", nameof(PathProblem.Nul))]
    [InlineData("/v1/models/%c0%ae%c0%ae/admin", nameof(PathProblem.InvalidUtf8))]
    [InlineData("/v1/models/\uff0e\uff0e/admin", nameof(PathProblem.InvalidCharacter))] // raw non-ASCII (fullwidth dots)
    [InlineData("/v1/models#/../admin", nameof(PathProblem.InvalidCharacter))]
    [InlineData("/v1/models?x", nameof(PathProblem.InvalidCharacter))]                  // the query is split off first
    [InlineData("/../admin", nameof(PathProblem.AboveRoot))]
    [InlineData("/a/../../admin", nameof(PathProblem.AboveRoot))]
    [InlineData("/..;/admin", nameof(PathProblem.AboveRoot))]
    // others
    [InlineData("/a%2Fb", nameof(PathProblem.EncodedSlash))]
    [InlineData("/a%2fb", nameof(PathProblem.EncodedSlash))]
    [InlineData("/a%", nameof(PathProblem.InvalidPercentEncoding))]
    [InlineData("/a%4", nameof(PathProblem.InvalidPercentEncoding))]
    [InlineData("/a%zz", nameof(PathProblem.InvalidPercentEncoding))]
    [InlineData("/a%0d%0aX", nameof(PathProblem.ControlCharacter))]
    [InlineData("/a%7f", nameof(PathProblem.ControlCharacter))]
    [InlineData("/a\u0001", nameof(PathProblem.ControlCharacter))]
    [InlineData("/a b", nameof(PathProblem.InvalidCharacter))]
    [InlineData("/a\"b", nameof(PathProblem.InvalidCharacter))]
    [InlineData("/a<b>", nameof(PathProblem.InvalidCharacter))]
    [InlineData("/%ed%a0%80", nameof(PathProblem.InvalidUtf8))]   // UTF-16 surrogate
    [InlineData("/%ff", nameof(PathProblem.InvalidUtf8))]
    [InlineData("/%e2%82", nameof(PathProblem.InvalidUtf8))]      // truncated sequence
    [InlineData("relative", nameof(PathProblem.NotAbsolute))]
    [InlineData("", nameof(PathProblem.NotAbsolute))]
    [InlineData("*", nameof(PathProblem.NotAbsolute))]
    public void AmbiguousPathsAreRefused(string raw, string problem)
    {
        var expected = Enum.Parse<PathProblem>(problem);
        Assert.Equal(expected, RequestPath.Normalize(raw, allowEncodedSlash: false, out _));
        Assert.False(string.IsNullOrEmpty(RequestPath.Describe(expected)));
    }

    [Fact]
    public void EncodedSlashStaysEncodedWhenAllowed()
    {
        Assert.Equal(PathProblem.None, RequestPath.Normalize("/repos/a%2fb/x", allowEncodedSlash: true, out var path, out var encoded));
        Assert.Equal("/repos/a%2Fb/x", path);
        Assert.True(encoded);
    }

    [Theory]
    [InlineData("/a/x%2F..%2Fadmin")]
    [InlineData("/a/%2F..")]
    [InlineData("/a/.%2Fb")]
    public void DotSegmentsHiddenBetweenEncodedSlashesAreRefusedEvenWhenAllowed(string raw) =>
        Assert.Equal(PathProblem.EncodedSlash, RequestPath.Normalize(raw, allowEncodedSlash: true, out _));

    [Fact]
    public void OverLongPathsAreRefused()
    {
        Assert.Equal(PathProblem.TooLong, RequestPath.Normalize("/" + new string('a', RequestPath.MaxLength), false, out _));
        Assert.Equal(PathProblem.None, RequestPath.Normalize("/" + new string('a', RequestPath.MaxLength - 1), false, out _));
    }

    [Theory]
    [InlineData("/v1/models", "/v1/models", true)]
    [InlineData("/v1/models", "/v1/models/", false)]
    [InlineData("/v1/models/*", "/v1/models/gpt", true)]
    [InlineData("/v1/models/*", "/v1/models/", true)]
    [InlineData("/v1/models/*", "/v1/models", false)]
    [InlineData("/v1/models/*", "/v1/models/a/b", false)]
    [InlineData("/repos/**", "/repos", true)]
    [InlineData("/repos/**", "/repos/", true)]
    [InlineData("/repos/**", "/repos/a/b/c", true)]
    [InlineData("/repos/**", "/reposx", false)]
    [InlineData("/repos/*/secrets/**", "/repos/x/secrets/y/z", true)]
    [InlineData("/repos/*/secrets/**", "/repos/x/y/secrets/z", false)]
    [InlineData("/**/secrets", "/a/b/secrets", true)]
    [InlineData("/**/secrets", "/secrets", true)]
    [InlineData("/**/secrets/**", "/a/secrets/b", true)]
    [InlineData("/a/*.json", "/a/x.json", true)]
    [InlineData("/a/*.json", "/a/x.yaml", false)]
    [InlineData("/a/*.json", "/a/b/x.json", false)]
    [InlineData("**", "/anything/at/all", true)]
    [InlineData("*", "/one", true)]
    [InlineData("*", "/one/two", false)]
    [InlineData("/A", "/a", false)]
    public void PathGlobs(string glob, string path, bool expected)
    {
        var compiled = PathGlob.TryCreate(glob, out var error);
        Assert.True(compiled is not null, error);
        Assert.Equal(expected, compiled!.IsMatch(path));
    }

    [Fact]
    public void ManyDoubleStarsStayLinearOnALongPath()
    {
        var glob = PathGlob.TryCreate("/**/a/**/a/**/a/**/b", out _)!;
        var path = "/" + string.Join('/', Enumerable.Repeat("a", 4000));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(glob.IsMatch(path));
        Assert.True(watch.ElapsedMilliseconds < 1000, $"{watch.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void MoreLiteralSegmentsAreMoreSpecific()
    {
        long S(string g) => PathGlob.TryCreate(g, out _)!.Specificity;
        Assert.True(S("/v1/models/*") > S("/v1/**"));
        Assert.True(S("/v1/models") > S("/v1/*"));
        Assert.True(S("/v1/*") > S("/v1/**"));
        Assert.True(S("/v1/models/x") > S("/v1/models"));
        Assert.True(S("/v1/models.json") > S("/v1/*.json"));
    }

    [Fact]
    public void TheFastPathAgreesWithTheFullNormaliserAndNormalisingIsIdempotent()
    {
        string[] pieces = ["/", "/", "a", "b", ".", "..", "%2e", "%41", "%2F", "%25", "%c3%a9", ";p", "~", "-", ":", "@", "*", "%", " ", "\\", "x"];
        var random = new Random(3);
        for (var i = 0; i < 20_000; i++)
        {
            var raw = "/" + string.Concat(Enumerable.Range(0, random.Next(0, 10)).Select(_ => pieces[random.Next(pieces.Length)]));
            var allow = random.Next(2) == 0;
            var fast = RequestPath.Normalize(raw, allow, fastPath: true, out var viaFast, out var slashFast);
            var full = RequestPath.Normalize(raw, allow, fastPath: false, out var viaFull, out var slashFull);
            Assert.Equal(full, fast);
            Assert.Equal(viaFull, viaFast);
            Assert.Equal(slashFull, slashFast);
            if (full == PathProblem.None)
            {
                Assert.Equal(PathProblem.None, RequestPath.Normalize(viaFull, allow, out var twice));
                Assert.Equal(viaFull, twice);
            }
        }
    }

    [Fact]
    public void GlobsAgreeWithABacktrackingReference()
    {
        string[] globs = ["/a", "/a/b", "/a/", "/a/**", "/a/b/**", "/**", "/a/*", "/a/*/c", "/**/b", "/a/**/c", "/a/b*", "/a//**", "/", "/*", "/*/", "/a/**/b/**", "/**/a/**", "/a*/**/*b"];
        string[] pieces = ["a", "b", "c", "bb", "ab", ""];
        var random = new Random(11);
        foreach (var text in globs)
        {
            var glob = PathGlob.TryCreate(text, out _)!;
            var parts = text[1..].Split('/');
            for (var i = 0; i < 3_000; i++)
            {
                var segments = Enumerable.Range(0, random.Next(1, 6)).Select(_ => pieces[random.Next(pieces.Length)]).ToArray();
                var path = "/" + string.Join('/', segments);
                var expected = Reference(parts, 0, segments, 0);
                Assert.True(expected == glob.IsMatch(path, useShape: true), $"{text} vs {path}: expected {expected}");
                Assert.True(expected == glob.IsMatch(path, useShape: false), $"{text} vs {path} (state walk): expected {expected}");
            }
        }
    }

    /// <summary>The glob semantics written the obvious, exponential way.</summary>
    private static bool Reference(string[] glob, int g, string[] path, int s)
    {
        if (g == glob.Length)
        {
            return s == path.Length;
        }

        if (glob[g] == "**")
        {
            for (var k = s; k <= path.Length; k++)
            {
                if (Reference(glob, g + 1, path, k))
                {
                    return true;
                }
            }

            return false;
        }

        if (s == path.Length)
        {
            return false;
        }

        var segmentMatches = glob[g].Contains('*', StringComparison.Ordinal)
            ? System.Text.RegularExpressions.Regex.IsMatch(path[s], "^" + System.Text.RegularExpressions.Regex.Escape(glob[g]).Replace("\\*", ".*", StringComparison.Ordinal) + "$")
            : glob[g] == path[s];
        return segmentMatches && Reference(glob, g + 1, path, s + 1);
    }
}
