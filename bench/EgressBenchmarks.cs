using BenchmarkDotNet.Attributes;
using Sandboxrun.Netns.Egress;

namespace Sandboxrun.Bench;

/// <summary>
/// Egress decision time for a 1,000-endpoint policy (DESIGN.md goal: under 1 µs). The policy has
/// 200 policies of 5 endpoints each: an exact host, a '*.' wildcard, a '**.' wildcard with two
/// ports, an inspected REST endpoint with allow and deny rules, and an IP literal; every policy
/// names two binaries with fixed hashes.
/// </summary>
[MemoryDiagnoser]
public class EgressBenchmarks
{
    private static readonly string CurlSha = new('a', 64);
    private CompiledEgressPolicy _policy = CompiledEgressPolicy.Empty;
    private EgressRequest _exactConnect = null!;
    private EgressRequest _wildcardConnect = null!;
    private EgressRequest _deepWildcardConnect = null!;
    private EgressRequest _restGet = null!;
    private EgressRequest _restDenyRule = null!;
    private EgressRequest _unknownHost = null!;
    private EgressRequest _wrongBinary = null!;
    private EgressRequest _ipSpelling = null!;

    [GlobalSetup]
    public void Setup()
    {
        var policies = Enumerable.Range(0, 200).Select(i => new EgressPolicySpec(
            $"p{i}",
            [
                new EgressEndpointSpec($"host{i}.example.com", [443]),
                new EgressEndpointSpec($"*.svc{i}.example.com", [443]),
                new EgressEndpointSpec($"**.deep{i}.example.org", [443, 8443]),
                new EgressEndpointSpec($"api{i}.example.net", [80])
                {
                    Protocol = EgressProtocol.Rest,
                    Rules = [new("GET", $"/v{i}/models/**"), new("POST", $"/v{i}/messages")],
                    DenyRules = [new("*", $"/v{i}/models/*/secrets/**")],
                },
                new EgressEndpointSpec($"10.0.{i}.1", [5432]),
            ],
            [new EgressBinarySpec("/usr/bin/curl"), new EgressBinarySpec("/usr/bin/git")])).ToList();
        var result = CompiledEgressPolicy.Compile(policies, path => path == "/usr/bin/curl" ? CurlSha : new string('b', 64));
        if (!result.Ok || result.Policy!.EndpointCount != 1000)
        {
            throw new InvalidOperationException(string.Join("\n", result.Errors));
        }

        _policy = result.Policy;
        var curl = new EgressExecutable("/usr/bin/curl", CurlSha);
        _exactConnect = new EgressRequest { Host = "host137.example.com", Port = 443, Binary = curl };
        _wildcardConnect = new EgressRequest { Host = "bucket.svc137.example.com", Port = 443, Binary = curl };
        _deepWildcardConnect = new EgressRequest { Host = "a.b.c.deep137.example.org", Port = 8443, Binary = curl };
        _restGet = new EgressRequest { Host = "api137.example.net", Port = 80, Layer = EgressLayer.L7, Binary = curl, Method = "GET", Path = "/v137/models/gpt-5", Query = "x=1" };
        _restDenyRule = new EgressRequest { Host = "api137.example.net", Port = 80, Layer = EgressLayer.L7, Binary = curl, Method = "GET", Path = "/v137/models/x/secrets/k" };
        _unknownHost = new EgressRequest { Host = "evil.example.com", Port = 443, Binary = curl };
        _wrongBinary = new EgressRequest { Host = "host137.example.com", Port = 443, Binary = new EgressExecutable("/usr/bin/python3", CurlSha) };
        _ipSpelling = new EgressRequest { Host = "0xa008901", Port = 5432, Binary = curl };
    }

    [Benchmark(Baseline = true)]
    public EgressDecision ExactHostConnect() => _policy.Evaluate(_exactConnect);

    [Benchmark]
    public EgressDecision WildcardHostConnect() => _policy.Evaluate(_wildcardConnect);

    [Benchmark]
    public EgressDecision DeepWildcardConnect() => _policy.Evaluate(_deepWildcardConnect);

    [Benchmark]
    public EgressDecision RestGetAllowedByRule() => _policy.Evaluate(_restGet);

    [Benchmark]
    public EgressDecision RestGetDeniedByDenyRule() => _policy.Evaluate(_restDenyRule);

    [Benchmark]
    public EgressDecision UnknownHostDenied() => _policy.Evaluate(_unknownHost);

    [Benchmark]
    public EgressDecision WrongBinaryDenied() => _policy.Evaluate(_wrongBinary);

    [Benchmark]
    public EgressDecision HexIpLiteralConnect() => _policy.Evaluate(_ipSpelling);
}
