using System.Collections.Immutable;
using Sandboxrun.Netns.Egress;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>Decision tables for the compiled egress policy.</summary>
public sealed class CompiledEgressPolicyTests
{
    private static readonly string CurlSha = new('a', 64);
    private static readonly string GitSha = new('b', 64);
    private static readonly string PythonSha = new('c', 64);
    private static readonly string NodeSha = new('d', 64);
    private static readonly string EvilSha = new('e', 64);

    // What hashAtLoad finds on "disk" when the policy is compiled.
    private static readonly Dictionary<string, string> Disk = new()
    {
        ["/usr/bin/curl"] = CurlSha,
        ["/usr/bin/git"] = GitSha,
        ["/usr/bin/python3"] = PythonSha,
        ["/usr/bin/node"] = NodeSha,
    };

    private static readonly EgressExecutable Curl = new("/usr/bin/curl", CurlSha);
    private static readonly EgressExecutable Git = new("/usr/bin/git", GitSha);
    private static readonly EgressExecutable Python = new("/usr/bin/python3", PythonSha);
    private static readonly EgressExecutable Node = new("/usr/bin/node", NodeSha);

    private static EgressCompileResult CompileResult(params EgressPolicySpec[] policies) =>
        CompiledEgressPolicy.Compile(policies, path => Disk.GetValueOrDefault(path));

    private static CompiledEgressPolicy Compile(params EgressPolicySpec[] policies)
    {
        var result = CompileResult(policies);
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return result.Policy!;
    }

    private static EgressPolicySpec Policy(string name, EgressEndpointSpec endpoint, params EgressBinarySpec[] binaries) =>
        new(name, [endpoint], [.. binaries]);

    private static EgressPolicySpec Policy(string name, EgressEndpointSpec[] endpoints, params EgressBinarySpec[] binaries) =>
        new(name, [.. endpoints], [.. binaries]);

    private static EgressBinarySpec Bin(string path) => new(path);

    private static EgressRequest Connect(string host, int port, EgressExecutable? binary = null, params EgressExecutable[] ancestors) => new()
    {
        Host = host,
        Port = port,
        Layer = EgressLayer.L4,
        Binary = binary ?? Curl,
        Ancestors = [.. ancestors],
    };

    private static EgressRequest Http(string method, string host, string path, string? query = null, int port = 80, EgressExecutable? binary = null) => new()
    {
        Host = host,
        Port = port,
        Layer = EgressLayer.L7,
        Binary = binary ?? Curl,
        Method = method,
        Path = path,
        Query = query,
    };

    private static EgressEndpointSpec Rest(string host, int port = 80) => new(host, [port]) { Protocol = EgressProtocol.Rest };

    private static EgressRuleSpec Rule(string method, string path) => new(method, path);

    [Fact]
    public void DenyByDefault()
    {
        var decision = CompiledEgressPolicy.Empty.Evaluate(Connect("example.com", 443));
        Assert.Equal(EgressVerdict.Deny, decision.Verdict);
        Assert.Equal(EgressReason.NoMatchingEndpoint, decision.Reason);
        Assert.Equal(EgressLayer.L4, decision.Layer);
        Assert.Null(decision.Policy);
    }

    [Theory] // PXD-02 and friends
    [InlineData("api.github.com", 443, EgressVerdict.Allow, EgressReason.Allowed)]
    [InlineData("API.GITHUB.COM.", 443, EgressVerdict.Allow, EgressReason.Allowed)]
    [InlineData("api.github.com", 8443, EgressVerdict.Deny, EgressReason.NoMatchingEndpoint)]
    [InlineData("api.github.com", 22, EgressVerdict.Deny, EgressReason.NoMatchingEndpoint)]
    [InlineData("140.82.112.6", 443, EgressVerdict.Deny, EgressReason.NoMatchingEndpoint)]
    [InlineData("github.com", 443, EgressVerdict.Deny, EgressReason.NoMatchingEndpoint)]
    [InlineData("api.github.com.evil.com", 443, EgressVerdict.Deny, EgressReason.NoMatchingEndpoint)]
    [InlineData("api.github.com:443", 443, EgressVerdict.Deny, EgressReason.InvalidHost)]
    [InlineData("1.2.3.256", 443, EgressVerdict.Deny, EgressReason.InvalidHost)]
    [InlineData("api.github.com", 0, EgressVerdict.Deny, EgressReason.InvalidPort)]
    [InlineData("api.github.com", 65536, EgressVerdict.Deny, EgressReason.InvalidPort)]
    public void HostAndPort(string host, int port, EgressVerdict verdict, EgressReason reason)
    {
        var policy = Compile(Policy("github", new EgressEndpointSpec("api.github.com", [443]), Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Connect(host, port));
        Assert.Equal(verdict, decision.Verdict);
        Assert.Equal(reason, decision.Reason);
        if (verdict == EgressVerdict.Allow)
        {
            Assert.Equal("github", decision.Policy);
            Assert.Equal("endpoints[0]", decision.Rule);
            Assert.Equal("api.github.com", decision.Host);
        }
    }

    [Fact]
    public void PortsListAndMultiplePolicies()
    {
        var policy = Compile(
            Policy("web", new EgressEndpointSpec("example.com", [80, 443]), Bin("/usr/bin/curl")),
            Policy("git", new EgressEndpointSpec("example.com", [22]), Bin("/usr/bin/git")));
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("example.com", 80)).Verdict);
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("example.com", 443)).Verdict);
        Assert.Equal(EgressReason.BinaryNotAllowed, policy.Evaluate(Connect("example.com", 22)).Reason);
        var git = policy.Evaluate(Connect("example.com", 22, Git));
        Assert.Equal(EgressVerdict.Allow, git.Verdict);
        Assert.Equal("git", git.Policy);
    }

    [Fact]
    public void TheSameRequestFromAnotherBinaryIsDenied()
    {
        var policy = Compile(Policy("github", new EgressEndpointSpec("api.github.com", [443]), Bin("/usr/bin/curl"), Bin("/usr/bin/git")));
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("api.github.com", 443, Curl)).Verdict);
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("api.github.com", 443, Git)).Verdict);
        var python = policy.Evaluate(Connect("api.github.com", 443, Python));
        Assert.Equal(EgressVerdict.Deny, python.Verdict);
        Assert.Equal(EgressReason.BinaryNotAllowed, python.Reason);
        Assert.Contains("/usr/bin/python3", python.Detail, StringComparison.Ordinal);
        Assert.Contains("'github'", python.Detail, StringComparison.Ordinal);
    }

    [Fact] // ID-02, ID-04: same path, other content
    public void AHashMismatchIsTampering()
    {
        var policy = Compile(
            Policy("github", new EgressEndpointSpec("api.github.com", [443]), Bin("/usr/bin/curl")),
            Policy("broad", new EgressEndpointSpec("api.github.com", [443]), Bin("/usr/bin/*")));
        var decision = policy.Evaluate(Connect("api.github.com", 443, new EgressExecutable("/usr/bin/curl", EvilSha)));
        Assert.Equal(EgressVerdict.Deny, decision.Verdict);
        Assert.Equal(EgressReason.BinaryTampered, decision.Reason);
        Assert.Equal("github", decision.Policy);
        Assert.Equal("binaries[0]", decision.Rule);
        Assert.StartsWith("tampering: ", decision.Detail, StringComparison.Ordinal);
        Assert.Contains(EvilSha, decision.Detail, StringComparison.Ordinal);
        Assert.Contains(CurlSha, decision.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void HashComparisonIgnoresHexCase()
    {
        var policy = Compile(Policy("github", new EgressEndpointSpec("api.github.com", [443]), Bin("/usr/bin/curl")));
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("api.github.com", 443, new EgressExecutable("/usr/bin/curl", CurlSha.ToUpperInvariant()))).Verdict);
    }

    [Fact]
    public void PinnedHashesAreCheckedAndWinOverTheFileAtLoad()
    {
        var pinned = new EgressBinarySpec("/usr/bin/curl") { Sha256 = EvilSha.ToUpperInvariant() };
        var policy = Compile(Policy("p", new EgressEndpointSpec("x.example.com", [443]), pinned));
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("x.example.com", 443, new EgressExecutable("/usr/bin/curl", EvilSha))).Verdict);
        Assert.Equal(EgressReason.BinaryTampered, policy.Evaluate(Connect("x.example.com", 443, Curl)).Reason);
    }

    [Fact]
    public void AnUnreadableHashIsNotAMatch()
    {
        var policy = Compile(Policy("p", new EgressEndpointSpec("x.example.com", [443]), Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Connect("x.example.com", 443, new EgressExecutable("/usr/bin/curl", null)));
        Assert.Equal(EgressReason.BinaryUnverifiable, decision.Reason);
    }

    [Fact]
    public void ALiteralBinaryMissingAtLoadMatchesNothingUntilReload()
    {
        var result = CompileResult(Policy("p", new EgressEndpointSpec("x.example.com", [443]), Bin("/opt/tool/bin/tool")));
        Assert.True(result.Ok);
        Assert.Contains(result.Warnings, w => w.Contains("/opt/tool/bin/tool", StringComparison.Ordinal));
        var decision = result.Policy!.Evaluate(Connect("x.example.com", 443, new EgressExecutable("/opt/tool/bin/tool", EvilSha)));
        Assert.Equal(EgressReason.BinaryUnverifiable, decision.Reason);
    }

    [Fact]
    public void WithoutAHasherLiteralPathsMatchByPathAlone()
    {
        var result = CompiledEgressPolicy.Compile([Policy("p", new EgressEndpointSpec("x.example.com", [443]), Bin("/usr/bin/curl"))]);
        Assert.Equal(EgressVerdict.Allow, result.Policy!.Evaluate(Connect("x.example.com", 443, new EgressExecutable("/usr/bin/curl", EvilSha))).Verdict);
    }

    [Theory]
    [InlineData("/usr/bin/*", "/usr/bin/python3", true)]
    [InlineData("/usr/bin/*", "/usr/bin/sub/python3", false)]
    [InlineData("/usr/**", "/usr/bin/sub/python3", true)]
    [InlineData("/usr/lib/jvm/*/bin/java", "/usr/lib/jvm/java-17/bin/java", true)]
    [InlineData("/usr/lib/jvm/*/bin/java", "/usr/lib/jvm/a/b/bin/java", false)]
    [InlineData("/usr/bin/python3*", "/usr/bin/python3.11", true)]
    [InlineData("/usr/bin/python3*", "/usr/bin/python2", false)]
    [InlineData("/usr/bin/*", "/usr/bin/curl (deleted)", false)]
    public void BinaryGlobs(string glob, string path, bool allowed)
    {
        var result = CompileResult(Policy("p", new EgressEndpointSpec("x.example.com", [443]), Bin(glob)));
        Assert.Contains(result.Warnings, w => w.Contains("path only", StringComparison.Ordinal));
        var decision = result.Policy!.Evaluate(Connect("x.example.com", 443, new EgressExecutable(path, EvilSha)));
        Assert.Equal(allowed ? EgressVerdict.Allow : EgressVerdict.Deny, decision.Verdict);
    }

    [Fact] // ID-04: " (deleted)" is never trusted as a path
    public void ADeletedExecutableMatchesNothing()
    {
        var policy = Compile(Policy("p", new EgressEndpointSpec("x.example.com", [443]), Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Connect("x.example.com", 443, new EgressExecutable("/usr/bin/curl (deleted)", CurlSha)));
        Assert.Equal(EgressReason.BinaryNotAllowed, decision.Reason);
        Assert.Contains("deleted", decision.Detail, StringComparison.Ordinal);
    }

    [Fact] // ID-10: a child is judged by its own executable unless the entry says inherit
    public void InheritLendsAnAncestorsRightsOnlyWhenAsked()
    {
        var plain = Compile(Policy("agent", new EgressEndpointSpec("api.example.com", [443]), Bin("/usr/bin/node")));
        Assert.Equal(EgressVerdict.Allow, plain.Evaluate(Connect("api.example.com", 443, Node)).Verdict);
        Assert.Equal(EgressReason.BinaryNotAllowed, plain.Evaluate(Connect("api.example.com", 443, Python, Node)).Reason);

        var inherit = Compile(Policy("agent", new EgressEndpointSpec("api.example.com", [443]), new EgressBinarySpec("/usr/bin/node") { Inherit = true }));
        var child = inherit.Evaluate(Connect("api.example.com", 443, Python, new EgressExecutable("/usr/bin/bash", null), Node));
        Assert.Equal(EgressVerdict.Allow, child.Verdict);

        var tamperedParent = inherit.Evaluate(Connect("api.example.com", 443, Python, new EgressExecutable("/usr/bin/node", EvilSha)));
        Assert.Equal(EgressReason.BinaryTampered, tamperedParent.Reason);
        Assert.Equal(EgressReason.BinaryNotAllowed, inherit.Evaluate(Connect("api.example.com", 443, Python, Curl)).Reason);

        // Only a policy with an inherit entry makes the proxy look up ancestors at all.
        Assert.False(plain.UsesInherit);
        Assert.True(inherit.UsesInherit);
    }

    [Fact]
    public void APolicyWithoutBinariesMatchesNothing()
    {
        var result = CompileResult(new EgressPolicySpec("nobody", [new EgressEndpointSpec("x.example.com", [443])], []));
        Assert.True(result.Ok);
        Assert.Contains(result.Warnings, w => w.Contains("no binaries", StringComparison.Ordinal));
        var decision = result.Policy!.Evaluate(Connect("x.example.com", 443));
        Assert.Equal(EgressVerdict.Deny, decision.Verdict);
        Assert.Equal(EgressReason.BinaryNotAllowed, decision.Reason);
    }

    [Theory]
    [InlineData("GET", "/repos/o/r/issues", EgressVerdict.Allow, EgressReason.Allowed, "endpoints[0].rules[0]")]
    [InlineData("HEAD", "/repos/o/r/issues", EgressVerdict.Allow, EgressReason.Allowed, "endpoints[0].rules[0]")]
    [InlineData("GET", "/repos/o/secrets/x", EgressVerdict.Deny, EgressReason.DenyRule, "endpoints[0].deny_rules[0]")]
    [InlineData("GET", "/repos/o/secrets", EgressVerdict.Deny, EgressReason.DenyRule, "endpoints[0].deny_rules[0]")]
    [InlineData("GET", "/repos/o/x/../secrets/k", EgressVerdict.Deny, EgressReason.DenyRule, "endpoints[0].deny_rules[0]")]
    [InlineData("GET", "//repos/o//secrets/k", EgressVerdict.Deny, EgressReason.DenyRule, "endpoints[0].deny_rules[0]")]
    [InlineData("GET", "/repos/o/secrets;x/k", EgressVerdict.Deny, EgressReason.DenyRule, "endpoints[0].deny_rules[0]")]
    [InlineData("POST", "/repos/o/r/pulls", EgressVerdict.Allow, EgressReason.Allowed, "endpoints[0].rules[1]")]
    [InlineData("POST", "/repos/o/r/issues", EgressVerdict.Deny, EgressReason.NotPermitted, "endpoints[0]")]
    [InlineData("DELETE", "/repos/o/r", EgressVerdict.Deny, EgressReason.NotPermitted, "endpoints[0]")]
    [InlineData("GET", "/user", EgressVerdict.Deny, EgressReason.NotPermitted, "endpoints[0]")]
    [InlineData("get", "/repos/o/r", EgressVerdict.Deny, EgressReason.NotPermitted, "endpoints[0]")]
    public void DenyRulesTakePrecedence(string method, string path, EgressVerdict verdict, EgressReason reason, string rule)
    {
        var endpoint = Rest("api.github.com") with
        {
            Rules = [Rule("GET", "/repos/**"), Rule("POST", "/repos/*/*/pulls")],
            DenyRules = [Rule("*", "/repos/*/secrets/**")],
        };
        var policy = Compile(Policy("github", endpoint, Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http(method, "api.github.com", path));
        Assert.Equal(verdict, decision.Verdict);
        Assert.Equal(reason, decision.Reason);
        Assert.Equal(rule, decision.Rule);
        Assert.Equal(EgressLayer.L7, decision.Layer);
        Assert.Equal("github", decision.Policy);
    }

    [Theory]
    [InlineData(EgressAccess.ReadOnly, "GET", true)]
    [InlineData(EgressAccess.ReadOnly, "HEAD", true)]
    [InlineData(EgressAccess.ReadOnly, "OPTIONS", true)]
    [InlineData(EgressAccess.ReadOnly, "POST", false)]
    [InlineData(EgressAccess.ReadOnly, "PUT", false)]
    [InlineData(EgressAccess.ReadOnly, "DELETE", false)]
    [InlineData(EgressAccess.ReadWrite, "GET", true)]
    [InlineData(EgressAccess.ReadWrite, "POST", true)]
    [InlineData(EgressAccess.ReadWrite, "PUT", true)]
    [InlineData(EgressAccess.ReadWrite, "PATCH", true)]
    [InlineData(EgressAccess.ReadWrite, "DELETE", false)]
    [InlineData(EgressAccess.ReadWrite, "TRACE", false)]
    [InlineData(EgressAccess.Full, "DELETE", true)]
    [InlineData(EgressAccess.Full, "PROPFIND", true)]
    public void AccessPresets(EgressAccess access, string method, bool allowed)
    {
        var policy = Compile(Policy("p", Rest("api.example.com") with { Access = access }, Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http(method, "api.example.com", "/any/path"));
        Assert.Equal(allowed ? EgressVerdict.Allow : EgressVerdict.Deny, decision.Verdict);
        if (allowed)
        {
            Assert.Equal("endpoints[0].access", decision.Rule);
            Assert.Equal("/any/path", decision.NormalizedPath);
        }
        else
        {
            Assert.Contains("access", decision.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AnInspectedEndpointWithoutRulesAllowsNoRequest()
    {
        var policy = Compile(Policy("p", Rest("api.example.com"), Bin("/usr/bin/curl")));
        Assert.Equal(EgressReason.NotPermitted, policy.Evaluate(Http("GET", "api.example.com", "/")).Reason);
    }

    [Fact]
    public void AnEndpointWithoutInspectionAllowsAnyRequest()
    {
        var policy = Compile(Policy("p", new EgressEndpointSpec("example.com", [80]), Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http("DELETE", "example.com", "/x"));
        Assert.Equal(EgressVerdict.Allow, decision.Verdict);
        Assert.Equal(EgressLayer.L7, decision.Layer);
    }

    [Fact]
    public void AuditModeAllowsWhatItWouldDenyAndSaysSo()
    {
        var endpoint = Rest("api.example.com") with
        {
            Enforcement = EgressEnforcement.Audit,
            Access = EgressAccess.ReadOnly,
            DenyRules = [Rule("GET", "/admin/**")],
        };
        var policy = Compile(Policy("p", endpoint, Bin("/usr/bin/curl")));

        var post = policy.Evaluate(Http("POST", "api.example.com", "/x"));
        Assert.Equal(EgressVerdict.AuditAllow, post.Verdict);
        Assert.Equal(EgressReason.NotPermitted, post.Reason);
        Assert.StartsWith("would deny: ", post.Detail, StringComparison.Ordinal);
        Assert.True(post.IsAllowed);

        var admin = policy.Evaluate(Http("GET", "api.example.com", "/admin/users"));
        Assert.Equal(EgressVerdict.AuditAllow, admin.Verdict);
        Assert.Equal(EgressReason.DenyRule, admin.Reason);
        Assert.Equal("endpoints[0].deny_rules[0]", admin.Rule);

        var get = policy.Evaluate(Http("GET", "api.example.com", "/x"));
        Assert.Equal(EgressVerdict.Allow, get.Verdict);

        // Identity is never audited: a wrong binary is denied in audit mode too.
        Assert.Equal(EgressVerdict.Deny, policy.Evaluate(Http("GET", "api.example.com", "/x", binary: Python)).Verdict);
        // Neither is an ambiguous path.
        Assert.Equal(EgressReason.AmbiguousPath, policy.Evaluate(Http("GET", "api.example.com", "/%2e%2e/x")).Reason);
    }

    [Theory]
    [InlineData("POST", "/v1/admin/users", EgressVerdict.Allow, "endpoints[1].access")]   // /v1/admin/** beats /v1/**
    [InlineData("DELETE", "/v1/admin/users", EgressVerdict.Allow, "endpoints[1].access")]
    [InlineData("POST", "/v1/models", EgressVerdict.Deny, "endpoints[0]")]                // /v1/** is read-only
    [InlineData("GET", "/v1/models", EgressVerdict.Allow, "endpoints[0].access")]
    [InlineData("GET", "/v1/models/gpt", EgressVerdict.Allow, "endpoints[2].rules[0]")]   // /v1/models/* beats /v1/**
    [InlineData("HEAD", "/v1/models/gpt", EgressVerdict.Allow, "endpoints[2].rules[0]")]
    [InlineData("OPTIONS", "/v1/models/gpt", EgressVerdict.Deny, "endpoints[2]")]         // the winner decides alone
    [InlineData("GET", "/health", EgressVerdict.Allow, "endpoints[3].rules[0]")]          // no path: the fallback
    [InlineData("GET", "/other", EgressVerdict.Deny, "endpoints[3]")]
    public void TheMostSpecificPathEndpointDecides(string method, string path, EgressVerdict verdict, string rule)
    {
        var endpoints = new[]
        {
            Rest("api.example.com") with { Path = "/v1/**", Access = EgressAccess.ReadOnly },
            Rest("api.example.com") with { Path = "/v1/admin/**", Access = EgressAccess.Full },
            Rest("api.example.com") with { Path = "/v1/models/*", Rules = [Rule("GET", "/**")] },
            Rest("api.example.com") with { Rules = [Rule("GET", "/health")] },
        };
        var policy = Compile(Policy("p", endpoints, Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http(method, "api.example.com", path));
        Assert.Equal(verdict, decision.Verdict);
        Assert.Equal(rule, decision.Rule);
    }

    [Fact]
    public void WhenEveryEndpointHasAPathAnUncoveredPathIsDenied()
    {
        var policy = Compile(Policy("p", Rest("api.example.com") with { Path = "/v1/**", Access = EgressAccess.Full }, Bin("/usr/bin/curl")));
        Assert.Equal(EgressReason.NoEndpointForPath, policy.Evaluate(Http("GET", "api.example.com", "/v2/x")).Reason);
    }

    [Fact]
    public void ConnectToAnInspectedEndpointNeedsTlsTermination()
    {
        var policy = Compile(
            Policy("rules", Rest("api.github.com", 443) with { Rules = [Rule("GET", "/repos/**")] }, Bin("/usr/bin/curl")),
            Policy("skip", Rest("uploads.github.com", 443) with { Tls = EgressTls.Skip }, Bin("/usr/bin/curl")),
            Policy("audit", Rest("audit.example.com", 443) with { Access = EgressAccess.ReadOnly, Enforcement = EgressEnforcement.Audit }, Bin("/usr/bin/curl")));

        var denied = policy.Evaluate(Connect("api.github.com", 443));
        Assert.Equal(EgressVerdict.Deny, denied.Verdict);
        Assert.Equal(EgressReason.NeedsTlsTermination, denied.Reason);
        Assert.Equal(EgressLayer.L4, denied.Layer);
        Assert.Contains("TLS", denied.Detail, StringComparison.Ordinal);
        Assert.Contains("tls: skip", denied.Detail, StringComparison.Ordinal);

        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("uploads.github.com", 443)).Verdict);
        Assert.Equal(EgressVerdict.AuditAllow, policy.Evaluate(Connect("audit.example.com", 443)).Verdict);
    }

    [Fact]
    public void ConnectIsAllowedWhenAnyMatchingPolicyGrantsTheHost()
    {
        var policy = Compile(
            Policy("l7", Rest("api.github.com", 443) with { Rules = [Rule("GET", "/**")] }, Bin("/usr/bin/curl")),
            Policy("l4", new EgressEndpointSpec("api.github.com", [443]), Bin("/usr/bin/git")));
        Assert.Equal(EgressReason.NeedsTlsTermination, policy.Evaluate(Connect("api.github.com", 443, Curl)).Reason);
        var git = policy.Evaluate(Connect("api.github.com", 443, Git));
        Assert.Equal(EgressVerdict.Allow, git.Verdict);
        Assert.Equal("l4", git.Policy);
    }

    // PXP-04: rule allows only GET /v1/models and /v1/models/*; nothing reaches /admin.
    [Theory]
    [InlineData("/v1/models/../admin", EgressReason.NotPermitted)]
    [InlineData("/v1/models/%2e%2e/admin", EgressReason.AmbiguousPath)]
    [InlineData("/v1/models/%2E%2e%2Fadmin", EgressReason.AmbiguousPath)]
    [InlineData("/v1/models/%252e%252e/admin", EgressReason.AmbiguousPath)]
    [InlineData("//admin", EgressReason.NotPermitted)]
    [InlineData("/v1/models/..;/admin", EgressReason.NotPermitted)]
    [InlineData("/v1/models;x=/../../admin", EgressReason.NotPermitted)]
    [InlineData("/v1/models\\..\\admin", EgressReason.AmbiguousPath)]
    [InlineData("/v1/models/%00/../admin", EgressReason.AmbiguousPath)]
    [InlineData("/V1/MODELS/../admin", EgressReason.NotPermitted)]
    [InlineData("/v1/models/%c0%ae%c0%ae/admin", EgressReason.AmbiguousPath)]
    [InlineData("/v1/models/\uff0e\uff0e/admin", EgressReason.AmbiguousPath)]
    [InlineData("/v1/models#/../admin", EgressReason.AmbiguousPath)]
    [InlineData("/v1/models/x/../../../admin", EgressReason.NotPermitted)]
    [InlineData("/../admin", EgressReason.AmbiguousPath)]
    public void PathEncodingTricksNeverReachAdmin(string path, EgressReason reason)
    {
        var endpoint = Rest("llm.example.com") with { Rules = [Rule("GET", "/v1/models"), Rule("GET", "/v1/models/*")] };
        var policy = Compile(Policy("p", endpoint, Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http("GET", "llm.example.com", path));
        Assert.Equal(EgressVerdict.Deny, decision.Verdict);
        Assert.Equal(reason, decision.Reason);
    }

    [Fact]
    public void AQueryThatLooksLikeTraversalIsJustAQuery()
    {
        var endpoint = Rest("llm.example.com") with { Rules = [Rule("GET", "/v1/models")] };
        var policy = Compile(Policy("p", endpoint, Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http("GET", "llm.example.com", "/v1/models", "x=/../admin"));
        Assert.Equal(EgressVerdict.Allow, decision.Verdict);
        Assert.Equal("/v1/models", decision.NormalizedPath);
    }

    [Fact]
    public void ThePathJudgedIsThePathToForward()
    {
        var policy = Compile(Policy("p", Rest("api.example.com") with { Rules = [Rule("GET", "/a/**")] }, Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http("GET", "api.example.com", "/a/./b//c/%7Ed;p"));
        Assert.Equal(EgressVerdict.Allow, decision.Verdict);
        Assert.Equal("/a/b/c/~d", decision.NormalizedPath);
    }

    [Fact]
    public void EncodedSlashNeedsAllowEncodedSlash()
    {
        var strict = Compile(Policy("p", Rest("api.example.com") with { Rules = [Rule("GET", "/**")] }, Bin("/usr/bin/curl")));
        var decision = strict.Evaluate(Http("GET", "api.example.com", "/repos/a%2Fb"));
        Assert.Equal(EgressReason.AmbiguousPath, decision.Reason);
        Assert.Contains("allow_encoded_slash", decision.Detail, StringComparison.Ordinal);

        var lenient = Compile(Policy("p", Rest("api.example.com") with { Rules = [Rule("GET", "/repos/*")], AllowEncodedSlash = true }, Bin("/usr/bin/curl")));
        var allowed = lenient.Evaluate(Http("GET", "api.example.com", "/repos/a%2fb"));
        Assert.Equal(EgressVerdict.Allow, allowed.Verdict);
        Assert.Equal("/repos/a%2Fb", allowed.NormalizedPath);
    }

    [Theory]
    [InlineData("per_page=10", true)]
    [InlineData("per_page=10&per_page=11", true)]
    [InlineData("per_page=10&per_page=20", false)]       // every value of a listed key must match the same rule
    [InlineData("per_page=10&per_page=x", false)]
    [InlineData("page=1", false)]                        // a listed key must be present
    [InlineData("per_page=1%30", true)]                  // decoded before matching
    [InlineData("per_page=%ZZ", false)]                  // undecodable fails allow rules
    [InlineData("per_page=10&debug=true", false)]        // the deny rule fires on any matching value
    [InlineData("per_page=10&debug=false&debug=true", false)]
    [InlineData("per_page=10&debug=false", true)]
    [InlineData("per_page=20&debug=%ZZ", false)]         // undecodable triggers deny rules
    public void QueryGlobs(string query, bool allowed)
    {
        var endpoint = Rest("api.example.com") with
        {
            Rules = [Rule("GET", "/items") with { Query = [new("per_page", "1*")] }, Rule("GET", "/items") with { Query = [new("per_page", "2*")] }],
            DenyRules = [Rule("GET", "/items") with { Query = [new("debug", "t*")] }],
        };
        var policy = Compile(Policy("p", endpoint, Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http("GET", "api.example.com", "/items", query));
        Assert.Equal(allowed ? EgressVerdict.Allow : EgressVerdict.Deny, decision.Verdict);
    }

    [Fact]
    public void DetailsNeverShowTheQueryOrCredentialShapedSegments()
    {
        var policy = Compile(Policy("p", Rest("api.example.com") with { Rules = [Rule("GET", "/public/**")] }, Bin("/usr/bin/curl")));
        var decision = policy.Evaluate(Http("POST", "api.example.com", "/bot123456:AAHsecretsecretsecret/sendMessage", "token=hunter2"));
        Assert.Equal(EgressVerdict.Deny, decision.Verdict);
        Assert.DoesNotContain("hunter2", decision.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("AAHsecret", decision.Detail, StringComparison.Ordinal);
        Assert.Contains("[redacted]", decision.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("GE T")]
    [InlineData("GET\r\n")]
    public void InvalidMethodsAreDenied(string method)
    {
        var policy = Compile(Policy("p", Rest("api.example.com") with { Access = EgressAccess.Full }, Bin("/usr/bin/curl")));
        Assert.Equal(EgressReason.InvalidMethod, policy.Evaluate(Http(method, "api.example.com", "/")).Reason);
    }

    [Fact]
    public void WildcardHostsAreFoundThroughTheIndex()
    {
        var policy = Compile(Policy("p",
            [
                new EgressEndpointSpec("*.googleapis.com", [443]),
                new EgressEndpointSpec("**.s3.amazonaws.com", [443]),
                new EgressEndpointSpec("api.*.example.com", [443]),
                new EgressEndpointSpec("exact.example.com", [443]),
            ],
            Bin("/usr/bin/curl")));
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("storage.googleapis.com", 443)).Verdict);
        Assert.Equal(EgressVerdict.Deny, policy.Evaluate(Connect("googleapis.com", 443)).Verdict);
        Assert.Equal(EgressVerdict.Deny, policy.Evaluate(Connect("a.b.googleapis.com", 443)).Verdict);
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("bucket.eu.s3.amazonaws.com", 443)).Verdict);
        Assert.Equal(EgressVerdict.Deny, policy.Evaluate(Connect("s3.amazonaws.com", 443)).Verdict);
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("api.eu.example.com", 443)).Verdict);
        Assert.Equal(EgressVerdict.Deny, policy.Evaluate(Connect("web.eu.example.com", 443)).Verdict);
        Assert.Equal(EgressVerdict.Allow, policy.Evaluate(Connect("exact.example.com", 443)).Verdict);
        Assert.Equal("endpoints[3]", policy.Evaluate(Connect("exact.example.com", 443)).Rule);
    }

    [Fact]
    public void AThousandEndpointsDecideLikeALinearScan()
    {
        var specs = Enumerable.Range(0, 200).Select(i => Policy($"p{i}",
            [
                new EgressEndpointSpec($"host{i}.example.com", [443]),
                new EgressEndpointSpec($"*.svc{i}.example.com", [443]),
                new EgressEndpointSpec($"**.deep{i}.example.org", [443, 8443]),
                Rest($"api{i}.example.net", 80) with { Rules = [Rule("GET", $"/v{i}/**")] },
                new EgressEndpointSpec($"10.0.{i}.1", [5432]),
            ],
            Bin(i % 2 == 0 ? "/usr/bin/curl" : "/usr/bin/git"))).ToArray();
        var policy = Compile(specs);
        Assert.Equal(1000, policy.EndpointCount);
        var random = new Random(5);
        for (var n = 0; n < 2000; n++)
        {
            var i = random.Next(200);
            var binary = random.Next(2) == 0 ? Curl : Git;
            var expected = (i % 2 == 0) == (binary == Curl);
            var request = random.Next(5) switch
            {
                0 => Connect($"host{i}.example.com", 443, binary),
                1 => Connect($"x.svc{i}.example.com", 443, binary),
                2 => Connect($"a.b.deep{i}.example.org", 8443, binary),
                3 => Http("GET", $"api{i}.example.net", $"/v{i}/x", binary: binary),
                _ => Connect($"10.0.{i}.1", 5432, binary),
            };
            var decision = policy.Evaluate(request);
            Assert.Equal(expected ? EgressVerdict.Allow : EgressVerdict.Deny, decision.Verdict);
            if (expected)
            {
                Assert.Equal($"p{i}", decision.Policy);
            }
        }
    }

    [Fact] // ID-08: every holder of the socket is judged
    public void EveryHolderOfTheSocketMustBeAllowed()
    {
        var policy = Compile(Policy("p", new EgressEndpointSpec("api.example.com", [443]), Bin("/usr/bin/curl")));
        var request = Connect("api.example.com", 443);
        var both = policy.EvaluateForHolders(request, [new EgressHolder(Python, []), new EgressHolder(Curl, [])]);
        Assert.Equal(EgressVerdict.Deny, both.Verdict);
        Assert.Contains("python3", both.Detail, StringComparison.Ordinal);
        Assert.Equal(EgressVerdict.Allow, policy.EvaluateForHolders(request, [new EgressHolder(Curl, []), new EgressHolder(Curl, [])]).Verdict);
        Assert.Equal(EgressReason.BinaryUnverifiable, policy.EvaluateForHolders(request, []).Reason);
    }

    [Fact]
    public void DecisionsCarryTheGeneration()
    {
        var result = CompiledEgressPolicy.Compile([Policy("p", new EgressEndpointSpec("x.example.com", [443]), Bin("/usr/bin/curl"))], null, generation: 7);
        Assert.Equal(7, result.Policy!.Generation);
        Assert.Equal(7, result.Policy.Evaluate(Connect("x.example.com", 443)).Generation);
    }

    [Theory]
    [InlineData("host", "*.com")]
    [InlineData("host", "")]
    [InlineData("port", "0")]
    [InlineData("access+rules", "")]
    [InlineData("rules-without-protocol", "")]
    [InlineData("skip+rules", "")]
    [InlineData("bad-method", "")]
    [InlineData("bad-path", "/a/%2e%2e")]
    [InlineData("bad-glob", "/a/b**")]
    [InlineData("bad-endpoint-path", "relative")]
    [InlineData("bad-sha", "")]
    [InlineData("relative-binary", "")]
    [InlineData("duplicate-name", "")]
    public void InvalidPoliciesDoNotCompile(string what, string value)
    {
        var endpoint = new EgressEndpointSpec("api.example.com", [443]);
        var binary = Bin("/usr/bin/curl");
        EgressPolicySpec? extra = null;
        switch (what)
        {
            case "host":
                endpoint = endpoint with { Host = value };
                break;
            case "port":
                endpoint = endpoint with { Ports = [int.Parse(value, System.Globalization.CultureInfo.InvariantCulture)] };
                break;
            case "access+rules":
                endpoint = Rest("api.example.com") with { Access = EgressAccess.Full, Rules = [Rule("GET", "/")] };
                break;
            case "rules-without-protocol":
                endpoint = endpoint with { Rules = [Rule("GET", "/")] };
                break;
            case "skip+rules":
                endpoint = Rest("api.example.com") with { Tls = EgressTls.Skip, Rules = [Rule("GET", "/")] };
                break;
            case "bad-method":
                endpoint = Rest("api.example.com") with { Rules = [Rule("G T", "/")] };
                break;
            case "bad-path":
            case "bad-glob":
                endpoint = Rest("api.example.com") with { Rules = [Rule("GET", value)] };
                break;
            case "bad-endpoint-path":
                endpoint = Rest("api.example.com") with { Path = value, Access = EgressAccess.Full };
                break;
            case "bad-sha":
                binary = binary with { Sha256 = "abc" };
                break;
            case "relative-binary":
                binary = Bin("curl");
                break;
            case "duplicate-name":
                extra = Policy("p", endpoint, binary);
                break;
        }

        var policies = new List<EgressPolicySpec> { Policy("p", endpoint, binary) };
        if (extra is not null)
        {
            policies.Add(extra);
        }

        var result = CompiledEgressPolicy.Compile(policies);
        Assert.False(result.Ok);
        Assert.Null(result.Policy);
        Assert.All(result.Errors, e => Assert.StartsWith("policy 'p'", e, StringComparison.Ordinal));
    }

    [Fact]
    public void DefaultImmutableArraysAreEmpty()
    {
        var result = CompiledEgressPolicy.Compile([new EgressPolicySpec("p", default, default)]);
        Assert.True(result.Ok);
        Assert.Equal(0, result.Policy!.EndpointCount);
        Assert.Equal(ImmutableArray<string>.Empty, result.Errors);
    }
}
