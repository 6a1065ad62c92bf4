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

    [Theory]
    [InlineData("curl", "curl")]
    [InlineData("-sS", "-sS")]
    [InlineData("/usr/bin/python3", "/usr/bin/python3")]
    [InlineData("hf_abcdefghijklmnopqrstuvwx", "[redacted]")]
    [InlineData("--token=abc", "--token=[redacted]")]
    [InlineData("https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", "https://api.telegram.org/[redacted]/sendMessage")]
    [InlineData("https://user:pa55word@example.com/repo.git", "https://[redacted]@example.com/repo.git")]
    [InlineData("http://example.com?k=hf_abcdefghijklmnopqrstuvwx&page=2", "http://example.com?k=[redacted]&page=2")]
    [InlineData("http://example.com/v1/models?page=2", "http://example.com/v1/models?page=2")]
    [InlineData("http://user@example.com", "http://[redacted]@example.com")]
    [InlineData("curl -u x https://a:b@h/one; curl 'https://c:d@h/two?k=hf_abcdefghijklmnopqrstuvwx'", "curl -u x https://[redacted]@h/one; curl 'https://[redacted]@h/two?k=[redacted]'")]
    [InlineData("curl -H \"X-Api-Key: AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\" h", "curl -H \"X-Api-Key: [redacted]\" h")]
    [InlineData("echo done; sleep 0.05", "echo done; sleep 0.05")]
    public void ArgumentsAreMaskedAsTheProxyMasksPaths(string input, string expected) => Assert.Equal(expected, Redaction.Argument(input));
}
