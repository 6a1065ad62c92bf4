using Sandboxrun.Policy;
using Xunit;

namespace Sandboxrun.Tests.Policy;

public class PolicySyntaxTests
{
    [Theory]
    [InlineData("/", "/")]
    [InlineData("//", "/")]
    [InlineData("/usr/", "/usr")]
    [InlineData("/usr//lib/./x/", "/usr/lib/x")]
    [InlineData("/./a/.", "/a")]
    [InlineData("/home/*/.local/bin/copilot", "/home/*/.local/bin/copilot")]
    [InlineData("/a/.../b", "/a/.../b")]
    public void PathsAreNormalisedLexically(string raw, string expected)
    {
        Assert.Null(PolicySyntax.NormalizeAbsolutePath(raw, out var normalized));
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("", "expected an absolute path")]
    [InlineData("usr", "relative path")]
    [InlineData("./usr", "relative path")]
    [InlineData("~/.ssh", "relative path")]
    [InlineData("/a/../b", "'..' component")]
    [InlineData("/a/..", "'..' component")]
    [InlineData("/a\0b", "NUL")]
    public void BadPathsAreRefused(string raw, string message)
    {
        Assert.Contains(message, PolicySyntax.NormalizeAbsolutePath(raw, out _), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1000000", 1_000_000L)]
    [InlineData("1k", 1000L)]
    [InlineData("1K", 1000L)]
    [InlineData("1G", 1_000_000_000L)]
    [InlineData("512Mi", 512L << 20)]
    [InlineData("4Gi", 4L << 30)]
    [InlineData("2Ti", 2L << 40)]
    [InlineData("8191Pi", 8191L << 50)]
    public void SizesParse(string raw, long bytes)
    {
        Assert.Null(PolicySyntax.ParseSize(raw, out var parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Gi")]
    [InlineData("4 Gi")]
    [InlineData("4gi")]
    [InlineData("4GiB")]
    [InlineData("0")]
    [InlineData("8192Pi")]
    [InlineData("99999999999999999999")]
    public void BadSizesAreRefused(string raw)
    {
        Assert.NotNull(PolicySyntax.ParseSize(raw, out _));
    }

    [Theory]
    [InlineData("PATH", true)]
    [InlineData("_x1", true)]
    [InlineData("1X", false)]
    [InlineData("A-B", false)]
    [InlineData("", false)]
    public void EnvironmentNames(string name, bool valid)
    {
        Assert.Equal(valid, PolicySyntax.IsEnvName(name));
    }

    [Theory]
    [InlineData("http://localhost:1234/v1", true)]
    [InlineData("https://api.openai.com/v1", true)]
    [InlineData("HTTPS://api.openai.com", true)]
    [InlineData("ftp://example.com", false)]
    [InlineData("/v1", false)]
    [InlineData("localhost:1234", false)]
    [InlineData("https://user:pw@example.com/", false)]
    public void InferenceUrls(string url, bool valid)
    {
        Assert.Equal(valid, PolicySyntax.CheckUrl(url) is null);
    }
}
