using System.Buffers;
using System.Net;
using System.Text;
using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>
/// The pure path a request takes through the proxy, without sockets: bytes -> head parser ->
/// decision -> address guard -> the proxy's answer. Each ATTACKS.md case asserts that nothing it
/// tries ends in "dial this address".
/// </summary>
public sealed class EgressPipelineTests
{
    private static readonly EgressExecutable Curl = new("/usr/bin/curl", null);

    // A policy that (mis)lists loopback and metadata literally, as PXD-03/PXD-05 assume.
    private static readonly CompiledEgressPolicy Policy = CompiledEgressPolicy.Compile(
        [
            new EgressPolicySpec("fixture", [
                new EgressEndpointSpec("allowed.example", [80, 443]),
                new EgressEndpointSpec("llm.example", [80])
                {
                    Protocol = EgressProtocol.Rest,
                    Rules = [new("GET", "/v1/models"), new("GET", "/v1/models/*"), new("POST", "/v1/messages")],
                },
                new EgressEndpointSpec("127.0.0.1", [80, 443]),
                new EgressEndpointSpec("169.254.169.254", [80]),
                new EgressEndpointSpec("metadata.google.internal", [80]),
            ], [new EgressBinarySpec("/usr/bin/curl")]),
        ]).Policy!;

    private enum Outcome
    {
        BadRequest,
        PolicyDenied,
        SsrfDenied,
        Dial,
    }

    /// <summary>Runs one head through the pipeline; <paramref name="resolve"/> plays the resolver for names.</summary>
    private static (Outcome Outcome, byte[]? Response, EgressDecision? Decision) Run(string raw, Func<string, IPAddress[]>? resolve = null)
    {
        var parsed = HttpHeadParser.Parse(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(raw)));
        if (parsed.Status != HeadParseStatus.Parsed)
        {
            Assert.Equal(HeadParseStatus.Rejected, parsed.Status);
            return (Outcome.BadRequest, ProxyResponses.ParseRejected(parsed), null);
        }

        var request = parsed.Head!.ToEgressRequest(Curl, []);
        var decision = Policy.Evaluate(request);
        if (!decision.IsAllowed)
        {
            return (Outcome.PolicyDenied, ProxyResponses.PolicyDenied(decision, request), decision);
        }

        var addresses = IPAddress.TryParse(decision.Host, out var literal) ? [literal] : (resolve ?? (_ => [IPAddress.Parse("93.184.216.34")]))(decision.Host);
        var verdict = DestinationGuard.Check(decision, addresses);
        return verdict.Allowed ? (Outcome.Dial, null, decision) : (Outcome.SsrfDenied, ProxyResponses.SsrfDenied(decision, verdict), decision);
    }

    [Theory] // PXD-03, plain and CONNECT
    [InlineData("2130706433")]
    [InlineData("0x7f000001")]
    [InlineData("0177.0.0.1")]
    [InlineData("127.1")]
    [InlineData("0")]
    [InlineData("0.0.0.0")]
    [InlineData("127.000.000.001")]
    [InlineData("2852039166")]
    [InlineData("0251.254.169.254")]
    [InlineData("[::ffff:127.0.0.1]")]
    [InlineData("[::1]")]
    [InlineData("127.0.0.1.")]
    public void AlternateAddressSpellingsNeverDial(string host)
    {
        var plain = Run($"GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n");
        var tunnel = Run($"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n");
        Assert.NotEqual(Outcome.Dial, plain.Outcome);
        Assert.NotEqual(Outcome.Dial, tunnel.Outcome);
        Assert.StartsWith("HTTP/1.1 403 ", Encoding.ASCII.GetString(plain.Response!), StringComparison.Ordinal);
    }

    [Theory] // PXD-05: metadata is unreachable even when the policy names it
    [InlineData("GET http://169.254.169.254/latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n")]
    [InlineData("GET http://metadata.google.internal/computeMetadata/v1/ HTTP/1.1\r\nHost: metadata.google.internal\r\nMetadata-Flavor: Google\r\n\r\n")]
    public void CloudMetadataIsNeverDialled(string raw)
    {
        var (outcome, response, _) = Run(raw, _ => [IPAddress.Parse("169.254.169.254")]);
        Assert.Equal(Outcome.SsrfDenied, outcome);
        Assert.Contains("\"ssrf_denied\"", Encoding.UTF8.GetString(response!), StringComparison.Ordinal);
    }

    [Fact] // PXD-06: a listed name that resolves to loopback is refused
    public void RebindingIsRefused()
    {
        var (outcome, _, _) = Run("GET http://allowed.example/ HTTP/1.1\r\nHost: allowed.example\r\n\r\n", _ => [IPAddress.Parse("203.0.113.7"), IPAddress.Parse("127.0.0.1")]);
        Assert.Equal(Outcome.SsrfDenied, outcome);
        Assert.Equal(Outcome.Dial, Run("GET http://allowed.example/ HTTP/1.1\r\nHost: allowed.example\r\n\r\n", _ => [IPAddress.Parse("203.0.113.7")]).Outcome);
    }

    [Theory] // PXD-02
    [InlineData("CONNECT allowed.example:8443 HTTP/1.1\r\nHost: allowed.example:8443\r\n\r\n")]
    [InlineData("CONNECT allowed.example:22 HTTP/1.1\r\nHost: allowed.example:22\r\n\r\n")]
    [InlineData("CONNECT 93.184.216.34:443 HTTP/1.1\r\nHost: 93.184.216.34:443\r\n\r\n")]
    public void WrongPortOrAddressOfAnAllowedHostIsDenied(string raw) => Assert.Equal(Outcome.PolicyDenied, Run(raw).Outcome);

    [Theory] // PXD-08
    [InlineData("CONNECT allowed.example@evil.example:443 HTTP/1.1\r\nHost: allowed.example:443\r\n\r\n")]
    [InlineData("CONNECT evil.example:443#allowed.example HTTP/1.1\r\nHost: allowed.example:443\r\n\r\n")]
    [InlineData("CONNECT [allowed.example]:443 HTTP/1.1\r\nHost: allowed.example:443\r\n\r\n")]
    [InlineData("CONNECT allowed.example:443:80 HTTP/1.1\r\nHost: allowed.example:443\r\n\r\n")]
    [InlineData("CONNECT allowed.example HTTP/1.1\r\nHost: allowed.example\r\n\r\n")]
    [InlineData("CONNECT allowed.example:0 HTTP/1.1\r\nHost: allowed.example\r\n\r\n")]
    [InlineData("CONNECT allowed.example:65536 HTTP/1.1\r\nHost: allowed.example\r\n\r\n")]
    public void MalformedConnectIsABadRequest(string raw)
    {
        var (outcome, response, _) = Run(raw);
        Assert.Equal(Outcome.BadRequest, outcome);
        Assert.StartsWith("HTTP/1.1 400 ", Encoding.ASCII.GetString(response!), StringComparison.Ordinal);
    }

    [Theory] // PXP-03: the policy and the upstream both use the target's authority, or the request is refused
    [InlineData("GET http://allowed.example/ok HTTP/1.1\r\nHost: denied.example\r\n\r\n")]
    [InlineData("GET http://denied.example/ok HTTP/1.1\r\nHost: allowed.example\r\n\r\n")]
    public void AbsoluteFormAndHostMustAgree(string raw) => Assert.Equal(Outcome.BadRequest, Run(raw).Outcome);

    [Fact] // PXP-09: pipelined requests are each decided
    public void PipelinedRequestsAreDecidedOneByOne()
    {
        var bytes = Encoding.Latin1.GetBytes(
            "GET http://llm.example/v1/models HTTP/1.1\r\nHost: llm.example\r\n\r\n"
            + "DELETE http://llm.example/admin HTTP/1.1\r\nHost: llm.example\r\n\r\n");
        var sequence = new ReadOnlySequence<byte>(bytes);
        var verdicts = new List<EgressVerdict>();
        while (sequence.Length > 0)
        {
            var result = HttpHeadParser.Parse(sequence);
            Assert.Equal(HeadParseStatus.Parsed, result.Status);
            verdicts.Add(Policy.Evaluate(result.Head!.ToEgressRequest(Curl, [])).Verdict);
            sequence = sequence.Slice(result.Head!.HeadLength);
        }

        Assert.Equal([EgressVerdict.Allow, EgressVerdict.Deny], verdicts);
    }

    [Theory] // PXP-06: smuggling attempts to an allowed POST are refused before any decision
    [InlineData("Content-Length: 6\r\nTransfer-Encoding: chunked")]
    [InlineData("Transfer-Encoding: xchunked")]
    [InlineData("Transfer-Encoding : chunked")]
    [InlineData("Transfer-Encoding: chunked, identity")]
    [InlineData("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked")]
    public void SmugglingIsABadRequest(string headers) =>
        Assert.Equal(Outcome.BadRequest, Run($"POST http://llm.example/v1/messages HTTP/1.1\r\nHost: llm.example\r\n{headers}\r\n\r\n0\r\n\r\nG").Outcome);

    [Theory] // PXP-15
    [InlineData("GET https://denied.example/ HTTP/1.1\r\nHost: denied.example\r\n\r\n")]
    [InlineData("GET ftp://denied.example/ HTTP/1.1\r\nHost: denied.example\r\n\r\n")]
    [InlineData("GET file:///etc/passwd HTTP/1.1\r\nHost: denied.example\r\n\r\n")]
    public void NonHttpSchemesAreBadRequests(string raw) => Assert.Equal(Outcome.BadRequest, Run(raw).Outcome);

    [Fact] // PXP-04 through the parser: what is dialled carries the judged path
    public void TheJudgedPathIsTheForwardedPath()
    {
        var (outcome, _, decision) = Run("GET http://llm.example/v1//models/./gpt%2d5 HTTP/1.1\r\nHost: llm.example\r\n\r\n");
        Assert.Equal(Outcome.Dial, outcome);
        Assert.Equal("/v1/models/gpt-5", decision!.NormalizedPath);
        Assert.Equal(Outcome.PolicyDenied, Run("GET http://llm.example/v1/models/%2e%2e/admin HTTP/1.1\r\nHost: llm.example\r\n\r\n").Outcome);
    }
}
