using Sandboxrun.Audit;
using Xunit;

namespace Sandboxrun.Tests.Plan;

public sealed class RedactionTests
{
    [Theory]
    [InlineData("key sk-live-abcdefghijkl", "key [redacted]")]
    [InlineData("ghp_abcdefghijklmnopqrstuvwxyz012345", "[redacted]")]
    [InlineData("xoxb-1234567890-abc", "[redacted]")]
    [InlineData("AKIAABCDEFGHIJKLMNOP", "[redacted]")]
    [InlineData("Authorization: Bearer abc.def.ghi-123", "Authorization: [redacted]")]
    [InlineData("/v1/x?api_key=123&page=2", "/v1/x?api_key=[redacted]&page=2")]
    [InlineData("/v1/x?token=abc", "/v1/x?token=[redacted]")]
    [InlineData("plain text", "plain text")]
    public void SecretsAreMasked(string input, string expected) => Assert.Equal(expected, Redaction.Redact(input));
}
