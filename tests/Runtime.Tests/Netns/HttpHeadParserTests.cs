using System.Buffers;
using System.Text;
using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>The strict request-head parser: forms, limits and the smuggling cases of ATTACKS.md (PXP-03, -06, -07, -09, -10, -15, PXD-08).</summary>
public sealed class HttpHeadParserTests
{
    internal static HeadParseResult Parse(string head, TunnelAuthority? tunnel = null) =>
        HttpHeadParser.Parse(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(head)), tunnel);

    private static HttpRequestHead Parsed(string head, TunnelAuthority? tunnel = null)
    {
        var result = Parse(head, tunnel);
        Assert.True(result.Status == HeadParseStatus.Parsed, $"{result.Status} {result.StatusCode} {result.Reason}");
        return result.Head!;
    }

    private static void Rejected(string head, int status = 400, TunnelAuthority? tunnel = null)
    {
        var result = Parse(head, tunnel);
        Assert.True(result.Status == HeadParseStatus.Rejected, $"expected {status}, got {result.Status} for {head}");
        Assert.Equal(status, result.StatusCode);
        Assert.False(string.IsNullOrEmpty(result.Reason));
        Assert.Null(result.Head);
    }

    [Fact]
    public void AbsoluteForm()
    {
        var head = Parsed("GET http://Example.COM/a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
        Assert.Equal("GET", head.Method);
        Assert.Equal(RequestTargetForm.Absolute, head.Form);
        Assert.Equal("example.com", head.Host);
        Assert.Equal(80, head.Port);
        Assert.Equal("/a/b", head.Path);
        Assert.Equal("x=1&y", head.Query);
        Assert.Equal(11, head.Version);
        Assert.Equal(2, head.Headers.Length);
        Assert.Equal(new KeyValuePair<string, string>("Accept", "*/*"), head.Headers[1]);
        Assert.Null(head.ContentLength);
        Assert.False(head.Chunked);
    }

    [Theory]
    [InlineData("http://example.com", "/", null)]
    [InlineData("http://example.com?q", "/", "q")]
    [InlineData("http://example.com:8080/x", "/x", null)]
    [InlineData("http://[::1]:8080/x?", "/x", "")]
    public void AbsoluteFormPathAndQuery(string target, string path, string? query)
    {
        var head = Parsed($"GET {target} HTTP/1.0\r\n\r\n");
        Assert.Equal(path, head.Path);
        Assert.Equal(query, head.Query);
    }

    [Fact]
    public void ConnectAuthorityForm()
    {
        var head = Parsed("CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nUser-Agent: curl/8\r\n\r\n");
        Assert.True(head.IsConnect);
        Assert.Equal(RequestTargetForm.Authority, head.Form);
        Assert.Equal("api.github.com", head.Host);
        Assert.Equal(443, head.Port);
        Assert.Equal("api.github.com:443", head.Authority);
        var request = head.ToEgressRequest(new EgressExecutable("/usr/bin/curl", null), []);
        Assert.Equal(EgressLayer.L4, request.Layer);
        Assert.Null(request.Method);
    }

    [Theory]
    [InlineData("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", "::1")]
    [InlineData("CONNECT 2130706433:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n", "127.0.0.1")]
    [InlineData("CONNECT example.com.:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com")]
    [InlineData("CONNECT example.com:443 HTTP/1.0\r\n\r\n", "example.com")]
    [InlineData("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nContent-Length: 0\r\n\r\n", "example.com")]
    public void ConnectVariants(string raw, string host) => Assert.Equal(host, Parsed(raw).Host);

    [Fact]
    public void OriginFormTakesTheAuthorityFromHost()
    {
        var head = Parsed("GET /x?y HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
        Assert.Equal(RequestTargetForm.Origin, head.Form);
        Assert.Equal(("example.com", 8080, "/x", "y"), (head.Host, head.Port, head.Path, head.Query));
    }

    [Theory]
    [InlineData("Transfer-Encoding: chunked")]
    [InlineData("Transfer-Encoding: Chunked")]
    [InlineData("Transfer-Encoding: gzip, chunked")]
    [InlineData("Transfer-Encoding: gzip,chunked")]
    public void ChunkedFraming(string header) =>
        Assert.True(Parsed($"POST http://e.com/ HTTP/1.1\r\nHost: e.com\r\n{header}\r\n\r\n").Chunked);

    [Fact]
    public void TheHeadEndsAtTheEmptyLineAndTheBodyIsNotRead()
    {
        const string first = "POST http://e.com/v1/messages HTTP/1.1\r\nHost: e.com\r\nContent-Length: 5\r\n\r\n";
        var head = Parsed(first + "hello");
        Assert.Equal(5, head.ContentLength);
        Assert.Equal(Encoding.Latin1.GetByteCount(first), head.HeadLength);
    }

    [Fact] // PXP-09: pipelined requests are parsed one head at a time, so each is decided on its own
    public void PipelinedRequestsAreSeparateHeads()
    {
        const string first = "GET http://e.com/v1/models HTTP/1.1\r\nHost: e.com\r\n\r\n";
        const string second = "DELETE http://e.com/admin HTTP/1.1\r\nHost: e.com\r\n\r\n";
        var bytes = Encoding.Latin1.GetBytes(first + second);
        var one = HttpHeadParser.Parse(new ReadOnlySequence<byte>(bytes));
        Assert.Equal("GET", one.Head!.Method);
        var two = HttpHeadParser.Parse(new ReadOnlySequence<byte>(bytes).Slice(one.Head.HeadLength));
        Assert.Equal("DELETE", two.Head!.Method);
        Assert.Equal("/admin", two.Head.Path);
    }

    [Theory]
    [InlineData("")]
    [InlineData("GET")]
    [InlineData("GET http://e.com/ HTTP/1.1")]
    [InlineData("GET http://e.com/ HTTP/1.1\r")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n\r")]
    public void IncompleteHeadsAskForMore(string partial) => Assert.Equal(HeadParseStatus.Incomplete, Parse(partial).Status);

    [Fact]
    public void EveryPrefixOfAValidHeadIsIncompleteAndSplitBuffersParseTheSame()
    {
        const string raw = "POST http://api.example.com:8080/v1/x?y=1 HTTP/1.1\r\nHost: api.example.com:8080\r\nContent-Length: 12\r\nX-A: b\r\n\r\n";
        var bytes = Encoding.Latin1.GetBytes(raw);
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.Equal(HeadParseStatus.Incomplete, HttpHeadParser.Parse(new ReadOnlySequence<byte>(bytes, 0, n)).Status);
        }

        var whole = Parsed(raw);
        for (var cut1 = 1; cut1 < bytes.Length; cut1 += 7)
        {
            for (var cut2 = cut1; cut2 < bytes.Length; cut2 += 11)
            {
                var split = HttpHeadParser.Parse(Segments.Of(bytes, cut1, cut2));
                Assert.Equal(HeadParseStatus.Parsed, split.Status);
                Assert.Equal(whole.Path, split.Head!.Path);
                Assert.Equal(whole.HeadLength, split.Head.HeadLength);
                Assert.Equal(whole.Headers.AsEnumerable(), split.Head.Headers.AsEnumerable());
            }
        }
    }

    // PXP-06: request smuggling through ambiguous framing.
    [Theory]
    [InlineData("Content-Length: 6\r\nTransfer-Encoding: chunked")]        // (a)
    [InlineData("Transfer-Encoding: chunked\r\nContent-Length: 6")]
    [InlineData("Transfer-Encoding: xchunked")]                            // (b)
    [InlineData("Transfer-Encoding : chunked")]                            // (c)
    [InlineData("Transfer-Encoding\t: chunked")]
    [InlineData("Transfer-Encoding: chunked, identity")]                   // (d)
    [InlineData("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked")] // (e)
    [InlineData("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked")]
    [InlineData("Transfer-Encoding: chunked, chunked")]
    [InlineData("Transfer-Encoding: identity")]
    [InlineData("Transfer-Encoding: gzip")]
    [InlineData("Transfer-Encoding: chunked;q=1")]
    [InlineData("Transfer-Encoding: ,chunked")]
    [InlineData("Transfer-Encoding:")]
    [InlineData("Transfer-Encoding: \"chunked\"")]
    [InlineData("Transfer-Encoding: chunked\r\n foo")]                     // obs-fold continuation
    // PXP-07: Content-Length games
    [InlineData("Content-Length: 5\r\nContent-Length: 6")]
    [InlineData("Content-Length: 5\r\nContent-Length: 5")]
    [InlineData("Content-Length: 5, 5")]
    [InlineData("Content-Length: +5")]
    [InlineData("Content-Length: -1")]
    [InlineData("Content-Length: 1e3")]
    [InlineData("Content-Length: 0x10")]
    [InlineData("Content-Length: 5 5")]
    [InlineData("Content-Length:")]
    [InlineData("Content-Length: 99999999999999999999")]
    [InlineData("Content-Length : 5")]
    public void AmbiguousFramingIsRefused(string headers) =>
        Rejected($"POST http://e.com/v1/messages HTTP/1.1\r\nHost: e.com\r\n{headers}\r\n\r\n");

    [Fact]
    public void TransferEncodingOnHttp10IsRefused() =>
        Rejected("POST http://e.com/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");

    // PXP-03: the Host header must name the request target's authority.
    [Theory]
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost: denied.example\r\n\r\n")]
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost: allowed.example:8080\r\n\r\n")]
    [InlineData("GET http://allowed.example:8080/ok HTTP/1.1\r\nHost: allowed.example\r\n\r\n")]
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost: allowed.example.evil\r\n\r\n")]
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost:\r\n\r\n")]
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost: allowed.example\r\nHost: denied.example\r\n\r\n")]
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost: user@allowed.example\r\n\r\n")]
    [InlineData("GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n")]
    [InlineData("CONNECT allowed.example:443 HTTP/1.1\r\nHost: denied.example:443\r\n\r\n")]
    [InlineData("CONNECT allowed.example:443 HTTP/1.1\r\nHost: allowed.example:8443\r\n\r\n")]
    public void HostMustAgreeWithTheTarget(string raw) => Rejected(raw);

    [Theory]
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost: ALLOWED.example.\r\n\r\n")]
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost: allowed.example:80\r\n\r\n")]
    [InlineData("GET http://allowed.example:80/ok HTTP/1.1\r\nHost: allowed.example\r\n\r\n")]
    [InlineData("GET http://2130706433/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")]
    public void EquivalentSpellingsOfTheAuthorityAgree(string raw) => Parsed(raw);

    // PXP-10
    [Theory]
    [InlineData("GET /v1/models HTTP/1.1\r\n\r\n")]                 // no Host
    [InlineData("GET /v1/models HTTP/1.0\r\n\r\n")]                 // forward proxy, no authority at all
    [InlineData("GET http://e.com/ HTTP/1.1\r\n\r\n")]              // HTTP/1.1 needs Host even in absolute-form
    [InlineData("CONNECT e.com:443 HTTP/1.1\r\n\r\n")]
    [InlineData("GET /v1/models\r\n\r\n")]                          // HTTP/0.9
    [InlineData("GET http://e.com/ HTTP/1.2\r\nHost: e.com\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/2.0\r\nHost: e.com\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/0.9\r\nHost: e.com\r\n\r\n")]
    [InlineData("GET http://e.com/ http/1.1\r\nHost: e.com\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1 \r\nHost: e.com\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/11\r\nHost: e.com\r\n\r\n")]
    public void VersionsAndMissingAuthorities(string raw) => Rejected(raw);

    // PXP-15: only http:// in absolute-form; https goes through CONNECT.
    [Theory]
    [InlineData("https://denied.example/")]
    [InlineData("ws://denied.example/")]
    [InlineData("ftp://denied.example/")]
    [InlineData("gopher://denied.example/")]
    [InlineData("file:///etc/passwd")]
    [InlineData("http:/denied.example/")]
    [InlineData("http//denied.example/")]
    [InlineData("denied.example/")]
    [InlineData("http://")]
    [InlineData("http:///x")]
    [InlineData("http://user:pw@denied.example/")]
    [InlineData("http://denied.example:0/")]
    [InlineData("http://denied.example:65536/")]
    [InlineData("http://denied.example:/")]
    [InlineData("http://denied.example:80:80/")]
    [InlineData("http://[denied.example]/")]
    [InlineData("http://1.2.3.256/")]
    [InlineData("http://exa%6dple.com/")]
    public void UnsupportedAbsoluteTargets(string target) =>
        Rejected($"GET {target} HTTP/1.1\r\nHost: denied.example\r\n\r\n");

    // PXD-08: malformed CONNECT authorities.
    [Theory]
    [InlineData("allowed.example@evil.example:443")]
    [InlineData("evil.example:443#allowed.example")]
    [InlineData("[allowed.example]:443")]
    [InlineData("allowed.example:443:80")]
    [InlineData("allowed.example")]
    [InlineData("allowed.example:0")]
    [InlineData("allowed.example:65536")]
    [InlineData("allowed.example:0443")]
    [InlineData("allowed.example:+443")]
    [InlineData("allowed.example:")]
    [InlineData(":443")]
    [InlineData("[::1]")]
    [InlineData("[::1]443")]
    [InlineData("::1:443")]
    [InlineData("/path")]
    [InlineData("http://allowed.example:443")]
    [InlineData("allowed.example/x:443")]
    public void MalformedConnectAuthorities(string authority) =>
        Rejected($"CONNECT {authority} HTTP/1.1\r\nHost: allowed.example:443\r\n\r\n");

    [Theory]
    [InlineData("CONNECT e.com:443 HTTP/1.1\r\nHost: e.com:443\r\nContent-Length: 5\r\n\r\nhello")]
    [InlineData("CONNECT e.com:443 HTTP/1.1\r\nHost: e.com:443\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("connect e.com:443 HTTP/1.1\r\nHost: e.com:443\r\n\r\n")] // a lowercase method is another method, with an authority target
    public void ConnectCarriesNoContent(string raw) => Rejected(raw);

    [Theory]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-A: b\r\n c\r\n\r\n")]          // obs-fold
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-A: b\r\n\tc\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\n Host: e.com\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\nHost: e.com\r\n\r\n")]                          // bare LF
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-A: b\rX-B: c\r\n\r\n")]      // bare CR
    [InlineData("GET http://e.com/ HTTP/1.1\r\r\nHost: e.com\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-A: a\0b\r\n\r\n")]          // NUL
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-A: a\u0001b\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-A: a\u007fb\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX A: b\r\n\r\n")]             // not a token
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n: b\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-A\r\n\r\n")]
    [InlineData("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-(A): b\r\n\r\n")]
    [InlineData("G(T http://e.com/ HTTP/1.1\r\nHost: e.com\r\n\r\n")]                       // method not a token
    [InlineData("GET  http://e.com/ HTTP/1.1\r\nHost: e.com\r\n\r\n")]                      // two spaces
    [InlineData("GET\thttp://e.com/ HTTP/1.1\r\nHost: e.com\r\n\r\n")]
    [InlineData(" GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n\r\n")]
    [InlineData("\r\nGET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n\r\n")]                  // leading empty line
    [InlineData("GET http://e.com/a#frag HTTP/1.1\r\nHost: e.com\r\n\r\n")]
    [InlineData("GET http://e.com/caf\u00e9 HTTP/1.1\r\nHost: e.com\r\n\r\n")]              // raw non-ASCII target
    [InlineData("GET http://e.com/a\u007f HTTP/1.1\r\nHost: e.com\r\n\r\n")]
    [InlineData("OPTIONS * HTTP/1.1\r\nHost: e.com\r\n\r\n")]
    [InlineData("GET /x HTTP/1.1\r\nHost: e.com:0\r\n\r\n")]
    public void MalformedHeadsAreBadRequests(string raw) => Rejected(raw);

    [Theory]
    [InlineData("\0")]
    [InlineData("GET / HTTP/1.1\rX")]
    [InlineData("G(T")]
    [InlineData("\r")]
    public void GarbageIsRefusedBeforeTheFirstLineEnds(string partial) => Rejected(partial);

    [Fact]
    public void ObsTextInValuesIsKept()
    {
        var head = Parsed("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\nX-Name:  caf\u00e9 \t\r\n\r\n");
        Assert.Equal("caf\u00e9", head.Headers[1].Value);
    }

    [Fact]
    public void TooManyHeadersIs431()
    {
        var ok = new StringBuilder("GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n");
        for (var i = 1; i < HttpHeadParser.MaxHeaderCount; i++)
        {
            ok.Append("X-").Append(i).Append(": v\r\n");
        }

        Parsed(ok + "\r\n");
        Rejected(ok + "X-Last: v\r\n\r\n", 431);
    }

    [Fact]
    public void HeadSizeLimits()
    {
        static string Head(string method, string target, int padding) =>
            $"{method} {target} HTTP/1.1\r\nHost: e.com:443\r\nX-Pad: {new string('a', padding)}\r\n\r\n";

        // 8 KiB for CONNECT, 32 KiB otherwise, counting every byte up to and including the empty line.
        var connectOverhead = Head("CONNECT", "e.com:443", 0).Length;
        Parsed(Head("CONNECT", "e.com:443", HttpHeadParser.MaxConnectHeadBytes - connectOverhead));
        Rejected(Head("CONNECT", "e.com:443", HttpHeadParser.MaxConnectHeadBytes - connectOverhead + 1), 431);
        Parsed(Head("GET", "http://e.com:443/", 16 * 1024));
        var getOverhead = Head("GET", "http://e.com:443/", 0).Length;
        Parsed(Head("GET", "http://e.com:443/", HttpHeadParser.MaxHeadBytes - getOverhead));
        Rejected(Head("GET", "http://e.com:443/", HttpHeadParser.MaxHeadBytes - getOverhead + 1), 431);
    }

    [Fact]
    public void AnUnfinishedHeadOverTheLimitIs431()
    {
        Rejected("CONNECT e.com:443 HTTP/1.1\r\nX-Pad: " + new string('a', HttpHeadParser.MaxConnectHeadBytes), 431);
        Rejected("GET http://e.com/ HTTP/1.1\r\nX-Pad: " + new string('a', HttpHeadParser.MaxHeadBytes), 431);
        Assert.Equal(HeadParseStatus.Incomplete, Parse("GET http://e.com/ HTTP/1.1\r\nX-Pad: " + new string('a', HttpHeadParser.MaxConnectHeadBytes)).Status);
    }

    [Fact]
    public void AnOverlongRequestLineIs414()
    {
        var target = "http://e.com/" + new string('a', HttpHeadParser.MaxRequestLineBytes);
        Rejected($"GET {target} HTTP/1.1\r\nHost: e.com\r\n\r\n", 414);
        Rejected($"GET {target}", 414);
        var fits = "http://e.com/" + new string('a', HttpHeadParser.MaxRequestLineBytes - "GET  HTTP/1.1".Length - "http://e.com/".Length);
        Parsed($"GET {fits} HTTP/1.1\r\nHost: e.com\r\n\r\n");
    }

    // PXP-02 and PXP-03 inside a terminated tunnel (used once TLS termination exists).
    [Fact]
    public void InsideATunnelEveryRequestMustNameTheTunnelsAuthority()
    {
        var tunnel = new TunnelAuthority("allowed.example", 443);
        var ok = Parsed("GET /v1/models HTTP/1.1\r\nHost: allowed.example\r\n\r\n", tunnel);
        Assert.Equal(("allowed.example", 443), (ok.Host, ok.Port));
        Assert.Equal("allowed.example", Parsed("GET /v1/models HTTP/1.0\r\n\r\n", tunnel).Host);
        Parsed("GET https://allowed.example/v1 HTTP/1.1\r\nHost: allowed.example\r\n\r\n", tunnel);
        Rejected("GET /ok HTTP/1.1\r\nHost: denied.example\r\n\r\n", tunnel: tunnel);
        Rejected("GET /ok HTTP/1.1\r\nHost: allowed.example:8443\r\n\r\n", tunnel: tunnel);
        Rejected("GET http://denied.example/ HTTP/1.1\r\nHost: allowed.example\r\n\r\n", tunnel: tunnel);
        Rejected("GET https://denied.example/ HTTP/1.1\r\nHost: denied.example\r\n\r\n", tunnel: tunnel);
        Rejected("CONNECT allowed.example:443 HTTP/1.1\r\nHost: allowed.example:443\r\n\r\n", tunnel: tunnel);
    }

    [Theory]
    [InlineData("GET http://e.com/a?b HTTP/1.1\r\nHost: e.com\r\nX-A: 1\r\n\r\n")]
    [InlineData("GET /a HTTP/1.1\r\nX-A: 1\r\nHost: e.com:8080\r\n\r\n")]
    [InlineData("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n")]
    [InlineData("POST http://0x7f.1:8080/x HTTP/1.0\r\nContent-Length: 3\r\n\r\n")]
    [InlineData("PUT http://e.com/x HTTP/1.1\r\nhost: E.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")]
    public void ReserialisedHeadsParseToTheSameRequest(string raw)
    {
        var head = Parsed(raw);
        var again = HttpHeadParser.Parse(new ReadOnlySequence<byte>(head.ToProxyRequestBytes()));
        Assert.Equal(HeadParseStatus.Parsed, again.Status);
        HttpHeadAssert.SameRequest(head, again.Head!);
    }
}

internal static class HttpHeadAssert
{
    public static void SameRequest(HttpRequestHead expected, HttpRequestHead actual)
    {
        Assert.Equal(expected.Method, actual.Method);
        Assert.Equal(expected.Host, actual.Host);
        Assert.Equal(expected.Port, actual.Port);
        Assert.Equal(expected.Path, actual.Path);
        Assert.Equal(expected.Query, actual.Query);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.ContentLength, actual.ContentLength);
        Assert.Equal(expected.Chunked, actual.Chunked);
        Assert.Equal(expected.IsConnect, actual.IsConnect);
    }
}

/// <summary>Builds multi-segment sequences, as a pipe delivers them.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Of(byte[] bytes, params int[] cuts)
    {
        var bounds = cuts.Where(c => c > 0 && c < bytes.Length).Distinct().Order().Append(bytes.Length).ToArray();
        var first = new Segments(bytes.AsMemory(0, bounds[0]), 0);
        var last = first;
        for (var i = 1; i < bounds.Length; i++)
        {
            var next = new Segments(bytes.AsMemory(bounds[i - 1], bounds[i] - bounds[i - 1]), bounds[i - 1]);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
