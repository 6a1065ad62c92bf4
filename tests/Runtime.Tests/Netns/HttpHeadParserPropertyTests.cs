using System.Buffers;
using System.Text;
using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>
/// Seeded random and mutated heads fed to the parser. Properties: it never throws; the result
/// does not depend on how the bytes are split into segments; anything Parsed respects the limits,
/// never disagrees with its own Host header, has unambiguous framing, and re-serialises to a head
/// that parses to the same request and gets the same decision.
/// </summary>
public sealed class HttpHeadParserPropertyTests
{
    private const int Iterations = 30_000;

    private static readonly string[] Corpus =
    [
        "GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n\r\n",
        "GET http://api.example.com/v1/models?x=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n",
        "POST http://api.example.com/v1/messages HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 5\r\n\r\nhello",
        "POST http://api.example.com/v1/messages HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\nProxy-Connection: keep-alive\r\n\r\n",
        "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
        "GET /admin HTTP/1.1\r\nHost: a.example.org:8080\r\n\r\n",
        "DELETE http://api.example.com/admin/users HTTP/1.0\r\n\r\n",
        "GET http://127.1:80/v1/models/../admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET http://api.example.com/v1/models/%2e%2e/admin HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
    ];

    private static readonly string[] EvilLines =
    [
        "Host: denied.example", "Host: api.example.com:8080", "Host: e.com", "host: API.EXAMPLE.COM.", "Host:",
        "Content-Length: 0", "Content-Length: 6", "Content-Length: 5, 5", "Content-Length: +5",
        "Transfer-Encoding: chunked", "Transfer-Encoding: xchunked", "Transfer-Encoding : chunked",
        "Transfer-Encoding: chunked, identity", "Transfer-Encoding: gzip, chunked", " folded", "\tfolded",
        "X-A: b\rc", "X-A: \0", "X: " + new string('a', 3000),
    ];

    private static readonly byte[] Interesting = "\r\n \t:;/?#@[]%.0123456789abcdefxX-\0\u007f\u0080\u00ff*"u8.ToArray();

    private static readonly CompiledEgressPolicy Policy = CompiledEgressPolicy.Compile(
        [
            new EgressPolicySpec("all", [
                new EgressEndpointSpec("e.com", [80, 443]),
                new EgressEndpointSpec("*.example.org", [8080]),
                new EgressEndpointSpec("127.0.0.1", [80]),
                new EgressEndpointSpec("2001:db8::1", [443]),
                new EgressEndpointSpec("api.example.com", [80, 443])
                {
                    Protocol = EgressProtocol.Rest,
                    Rules = [new("GET", "/v1/**"), new("POST", "/v1/messages")],
                    DenyRules = [new("*", "/admin/**")],
                },
            ], [new EgressBinarySpec("/usr/bin/curl")]),
        ]).Policy!;

    private static readonly EgressExecutable Curl = new("/usr/bin/curl", null);

    [Fact]
    public void MutatedHeadsKeepTheParsersInvariants()
    {
        var random = new Random(20240611);
        var parsed = 0;
        var rejected = 0;
        for (var i = 0; i < Iterations; i++)
        {
            var bytes = Mutate(random, i);
            var outcome = Check(bytes, random);
            parsed += outcome == HeadParseStatus.Parsed ? 1 : 0;
            rejected += outcome == HeadParseStatus.Rejected ? 1 : 0;
        }

        // The generator must exercise both sides, or the properties hold vacuously.
        Assert.True(parsed > Iterations / 20, $"parsed {parsed}");
        Assert.True(rejected > Iterations / 5, $"rejected {rejected}");
    }

    [Fact]
    public void RandomBytesNeverThrow()
    {
        var random = new Random(7);
        for (var i = 0; i < 5_000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            Check(bytes, random);
        }
    }

    private static byte[] Mutate(Random random, int i)
    {
        var text = Corpus[random.Next(Corpus.Length)];
        if (random.Next(4) == 0)
        {
            // Line-level edits: insert an evil header, duplicate, drop or swap lines.
            var lines = text.Split("\r\n").ToList();
            var headEnd = Math.Max(1, lines.IndexOf(""));
            switch (random.Next(4))
            {
                case 0:
                    lines.Insert(random.Next(1, headEnd + 1), EvilLines[random.Next(EvilLines.Length)]);
                    break;
                case 1 when headEnd > 1:
                    lines.Insert(headEnd, lines[random.Next(1, headEnd)]);
                    break;
                case 2 when headEnd > 1:
                    lines.RemoveAt(random.Next(1, headEnd));
                    break;
                default:
                    if (headEnd > 2)
                    {
                        var a = random.Next(1, headEnd);
                        var b = random.Next(1, headEnd);
                        (lines[a], lines[b]) = (lines[b], lines[a]);
                    }

                    break;
            }

            text = string.Join("\r\n", lines);
        }

        var bytes = Encoding.Latin1.GetBytes(text).ToList();
        var edits = i % 3 == 0 ? 0 : random.Next(1, 4);
        for (var e = 0; e < edits && bytes.Count > 0; e++)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(4))
            {
                case 0:
                    bytes[at] = Interesting[random.Next(Interesting.Length)];
                    break;
                case 1:
                    bytes.Insert(at, Interesting[random.Next(Interesting.Length)]);
                    break;
                case 2:
                    bytes.RemoveRange(at, Math.Min(random.Next(1, 4), bytes.Count - at));
                    break;
                default:
                    bytes[at] = (byte)random.Next(256);
                    break;
            }
        }

        if (random.Next(10) == 0)
        {
            bytes = bytes.Take(random.Next(bytes.Count + 1)).ToList(); // truncated
        }

        return [.. bytes];
    }

    private static HeadParseStatus Check(byte[] bytes, Random random)
    {
        var whole = Parse(new ReadOnlySequence<byte>(bytes), bytes);

        // Segmentation does not change the outcome.
        var split = Parse(Segments.Of(bytes, random.Next(bytes.Length + 1), random.Next(bytes.Length + 1), random.Next(bytes.Length + 1)), bytes);
        Assert.Equal(whole.Status, split.Status);
        Assert.Equal(whole.StatusCode, split.StatusCode);
        if (whole.Status == HeadParseStatus.Rejected)
        {
            Assert.Contains(whole.StatusCode, new[] { 400, 414, 431 });
            return whole.Status;
        }

        if (whole.Status != HeadParseStatus.Parsed)
        {
            return whole.Status;
        }

        var head = whole.Head!;
        HttpHeadAssert.SameRequest(head, split.Head!);
        CheckInvariants(head, bytes);

        // Re-serialised, it parses to the same request and gets the same decision.
        var again = HttpHeadParser.Parse(new ReadOnlySequence<byte>(head.ToProxyRequestBytes()));
        Assert.True(again.Status == HeadParseStatus.Parsed, $"{again.StatusCode} {again.Reason} for {Encoding.Latin1.GetString(bytes)}");
        HttpHeadAssert.SameRequest(head, again.Head!);
        CheckInvariants(again.Head!, head.ToProxyRequestBytes());
        var first = Policy.Evaluate(head.ToEgressRequest(Curl, []));
        var second = Policy.Evaluate(again.Head!.ToEgressRequest(Curl, []));
        Assert.Equal(first.Verdict, second.Verdict);
        Assert.Equal(first.Reason, second.Reason);
        Assert.Equal(first.Rule, second.Rule);
        Assert.Equal(first.NormalizedPath, second.NormalizedPath);
        return whole.Status;
    }

    private static HeadParseResult Parse(in ReadOnlySequence<byte> sequence, byte[] bytes)
    {
        try
        {
            return HttpHeadParser.Parse(sequence);
        }
        catch (Exception e)
        {
            Assert.Fail($"the parser threw {e.GetType().Name}: {e.Message} for {Convert.ToHexString(bytes)}");
            throw;
        }
    }

    private static void CheckInvariants(HttpRequestHead head, byte[] bytes)
    {
        var limit = head.IsConnect ? HttpHeadParser.MaxConnectHeadBytes : HttpHeadParser.MaxHeadBytes;
        Assert.InRange(head.HeadLength, 1, Math.Min(limit, bytes.Length));
        Assert.True(head.Headers.Length <= HttpHeadParser.MaxHeaderCount);
        Assert.True(HttpSyntax.IsToken(head.Method));
        Assert.InRange(head.Port, 1, 65535);
        Assert.True(HostName.TryCanonicalize(head.Host, out var canonical) && canonical.Text == head.Host);
        Assert.False(head.Chunked && head.ContentLength is not null);
        Assert.True(head.IsConnect ? head.Path.Length == 0 : head.Path.StartsWith('/'));
        Assert.True(head.Version is 10 or 11);

        var hosts = head.Headers.Where(h => h.Key.Equals("Host", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.True(hosts.Count <= 1);
        Assert.True(head.Version == 10 || hosts.Count == 1);
        if (hosts.Count == 1)
        {
            // Never Parsed with a Host that names another host or port than the one decided on.
            var value = hosts[0].Value;
            var colon = value.StartsWith('[') ? value.IndexOf("]:", StringComparison.Ordinal) + 1 : value.LastIndexOf(':');
            var hostPart = colon > 0 ? value[..colon] : value;
            Assert.True(HostName.TryCanonicalize(hostPart, out var named));
            Assert.Equal(head.Host, named.Text);
            if (colon > 0)
            {
                Assert.Equal(head.Port, int.Parse(value[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (head.Form == RequestTargetForm.Absolute)
            {
                Assert.Equal(80, head.Port);
            }
        }

        foreach (var (name, value) in head.Headers)
        {
            Assert.True(HttpSyntax.IsToken(name));
            Assert.DoesNotContain('\r', value);
            Assert.DoesNotContain('\n', value);
            Assert.DoesNotContain('\0', value);
        }
    }
}
