using System.Net;
using System.Text;
using System.Text.Json;
using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>The proxy's own responses: status line, headers, JSON bodies, redaction.</summary>
public sealed class ProxyResponsesTests
{
    private static (string Head, JsonElement Body) Split(byte[] response)
    {
        var text = Encoding.UTF8.GetString(response);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = text[..end];
        var body = text[(end + 4)..];
        Assert.Contains($"\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n", head + "\r\n", StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Type: application/json\r\n", head + "\r\n", StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", head + "\r\n", StringComparison.Ordinal);
        using var document = JsonDocument.Parse(body);
        return (head, document.RootElement.Clone());
    }

    private static CompiledEgressPolicy Policy() => CompiledEgressPolicy.Compile(
        [
            new EgressPolicySpec("github", [
                new EgressEndpointSpec("api.github.com", [80]) { Protocol = EgressProtocol.Rest, Access = EgressAccess.ReadOnly },
                new EgressEndpointSpec("*.example.com", [443]),
            ], [new EgressBinarySpec("/usr/bin/gh")]),
        ]).Policy!;

    [Fact]
    public void PolicyDeniedAtL7()
    {
        var request = new EgressRequest
        {
            Host = "API.github.com",
            Port = 80,
            Layer = EgressLayer.L7,
            Binary = new EgressExecutable("/usr/bin/gh", new string('a', 64)),
            Method = "POST",
            Path = "/repos/o/r/keys/ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            Query = "access_token=hunter2",
        };
        var decision = Policy().Evaluate(request);
        var response = ProxyResponses.PolicyDenied(decision, request);
        var (head, body) = Split(response);
        Assert.StartsWith("HTTP/1.1 403 Forbidden\r\n", head + "\r\n", StringComparison.Ordinal);
        Assert.Equal("policy_denied", body.GetProperty("error").GetString());
        Assert.Equal("github", body.GetProperty("policy").GetString());
        Assert.Equal("endpoints[0]", body.GetProperty("rule").GetString());
        Assert.Equal("l7", body.GetProperty("layer").GetString());
        Assert.Equal("http", body.GetProperty("protocol").GetString());
        Assert.Equal("POST", body.GetProperty("method").GetString());
        Assert.Equal("/repos/o/r/keys/[redacted]", body.GetProperty("path").GetString());
        Assert.Equal("api.github.com", body.GetProperty("host").GetString());
        Assert.Equal(80, body.GetProperty("port").GetInt32());
        Assert.Equal("/usr/bin/gh", body.GetProperty("binary").GetString());
        Assert.Equal(new string('a', 64), body.GetProperty("binary_sha256").GetString());
        Assert.Contains("read-only", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var all = Encoding.UTF8.GetString(response);
        Assert.DoesNotContain("hunter2", all, StringComparison.Ordinal);
        Assert.DoesNotContain("ghp_", all, StringComparison.Ordinal);
    }

    [Fact]
    public void PolicyDeniedAtL4()
    {
        var request = new EgressRequest { Host = "evil.example.net", Port = 443, Binary = new EgressExecutable("/usr/bin/gh", null) };
        var decision = Policy().Evaluate(request);
        var (_, body) = Split(ProxyResponses.PolicyDenied(decision, request));
        Assert.Equal("l4", body.GetProperty("layer").GetString());
        Assert.Equal("connect", body.GetProperty("protocol").GetString());
        Assert.Equal("CONNECT", body.GetProperty("method").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("path").ValueKind);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("policy").ValueKind);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("binary_sha256").ValueKind);
        Assert.Contains("evil.example.net:443", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void SsrfDeniedDoesNotDiscloseTheAddress()
    {
        var decision = Policy().Evaluate(new EgressRequest { Host = "rebind.example.com", Port = 443, Binary = new EgressExecutable("/usr/bin/gh", null) });
        var verdict = DestinationGuard.Check(decision, [IPAddress.Parse("10.9.8.7")]);
        var response = ProxyResponses.SsrfDenied(decision, verdict);
        var (head, body) = Split(response);
        Assert.StartsWith("HTTP/1.1 403 ", head, StringComparison.Ordinal);
        Assert.Equal("ssrf_denied", body.GetProperty("error").GetString());
        Assert.Equal("private", body.GetProperty("address_class").GetString());
        Assert.Equal("rebind.example.com", body.GetProperty("host").GetString());
        Assert.DoesNotContain("10.9.8.7", Encoding.UTF8.GetString(response), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "bad_request")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX: {pad}{pad}{pad}{pad}\r\n\r\n", 431, "request_header_fields_too_large")]
    [InlineData("GET http://e.com/{pad} HTTP/1.1\r\n\r\n", 414, "uri_too_long")]
    public void ParseRejections(string raw, int status, string error)
    {
        var result = HttpHeadParserTests.Parse(raw.Replace("{pad}", new string('a', 9000), StringComparison.Ordinal));
        Assert.Equal(HeadParseStatus.Rejected, result.Status);
        Assert.Equal(status, result.StatusCode);
        var (head, body) = Split(ProxyResponses.ParseRejected(result));
        Assert.StartsWith($"HTTP/1.1 {status} ", head, StringComparison.Ordinal);
        Assert.Equal(error, body.GetProperty("error").GetString());
        Assert.Equal(result.Reason, body.GetProperty("detail").GetString());
    }

    [Fact]
    public void UpstreamUnreachable()
    {
        var (head, body) = Split(ProxyResponses.UpstreamUnreachable("api.example.com", 443, "connect timed out after 10 s"));
        Assert.StartsWith("HTTP/1.1 502 Bad Gateway", head, StringComparison.Ordinal);
        Assert.Equal("upstream_unreachable", body.GetProperty("error").GetString());
        Assert.Equal(443, body.GetProperty("port").GetInt32());
    }

    [Fact]
    public void BadRequest()
    {
        var (head, body) = Split(ProxyResponses.BadRequest("nope \"quoted\" \u2028"));
        Assert.StartsWith("HTTP/1.1 400 Bad Request", head, StringComparison.Ordinal);
        Assert.Equal("nope \"quoted\" \u2028", body.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("/v1/models", "/v1/models")]
    [InlineData("/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", "/[redacted]/sendMessage")]
    [InlineData("/keys/sk-proj-abcdefghijklmnop", "/keys/[redacted]")]
    [InlineData("/x/AKIAIOSFODNN7EXAMPLE", "/x/[redacted]")]
    [InlineData("/blob/3f786850e387550fdab836ed7e6dc881de23001b", "/blob/[redacted]")]
    [InlineData("/items/123e4567-e89b-12d3-a456-426614174000", "/items/123e4567-e89b-12d3-a456-426614174000")]
    [InlineData("/a?token=secret", "/a")]
    [InlineData("/short/abc123", "/short/abc123")]
    public void Redaction_(string path, string expected) => Assert.Equal(expected, Redaction.Path(path));

    [Theory]
    [InlineData("/v1/models?page=2&limit=10", "/v1/models?page=2&limit=10")]
    [InlineData("/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/send?chat=42", "/[redacted]/send?chat=42")]
    [InlineData("/a?k=hf_abcdefghijklmnopqrstuvwx&page=2", "/a?k=[redacted]&page=2")]
    [InlineData("/a?page=2&x=eyJhbGciOiJIUzI1NiJ9abcdefgh", "/a?page=2&x=[redacted]")]
    [InlineData("/a?sk-proj-abcdefghijklmnop", "/a?sk-proj-abcdefghijklmnop")] // no value: the audit's own redactor masks the sk- shape
    [InlineData("/a?", "/a?")]
    [InlineData("/items/123e4567-e89b-12d3-a456-426614174000?id=123e4567-e89b-12d3-a456-426614174000", "/items/123e4567-e89b-12d3-a456-426614174000?id=123e4567-e89b-12d3-a456-426614174000")]
    public void RedactionOfAUrlInACommandLineKeepsTheQueryButNotItsSecrets(string path, string expected) =>
        Assert.Equal(expected, Redaction.PathAndQuery(path));
}
