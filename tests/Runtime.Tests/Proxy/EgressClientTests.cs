using System.Text.Json;
using Sandboxrun.Tests.Infrastructure;
using Xunit;

namespace Sandboxrun.Tests.Proxy;

/// <summary>
/// Real clients inside real sandboxes, through the real proxy, to upstreams on the host side:
/// curl, python3 (http.client and urllib), git over http and a .NET HttpClient (the probe).
/// Keep-alive connections carry several requests, each decided on its own.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class EgressClientTests(SandboxFixture f) : IClassFixture<UpstreamAddresses>
{
    private (string Workdir, string Policy) Setup(Upstream up, string binaries, string rules = "")
    {
        string wd = f.NewWorkdir();
        string policy = Path.Combine(wd, "policy.yaml");
        File.WriteAllText(policy, $"""
            version: 1
            filesystem_policy:
              include_workdir: true
              read_only: [/]
              read_write: [/tmp, /dev/null]
            network_policies:
              upstream:
                name: upstream
                endpoints:
                  - host: {up.Address}
                    port: {up.Port}
            {rules}
                binaries:
            {binaries}
            """);
        return (wd, policy);
    }

    private static string Binaries(params string[] paths) => string.Join('\n', paths.Select(p => $"      - {{ path: {p} }}"));

    private ProcessResult Run(string policy, string wd, string audit, params string[] command) =>
        f.Run(["--policy", policy, "--audit", audit, "--", .. command], workdir: wd);

    private static List<JsonElement> Events(string audit, string name) =>
        [.. File.ReadAllLines(audit).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("event").GetString() == name)];

    [Fact]
    public void CurlKeepsItsConnectionAliveAndEveryRequestIsDecided()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/curl"));
        string audit = Path.Combine(wd, "audit.jsonl");
        string b = $"http://{up.Address}:{up.Port}";
        ProcessResult r = Run(policy, wd, audit, "curl", "-sS", $"{b}/one", $"{b}/chunked", $"{b}/three");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello-upstream" + "hello-upstream" + "hello-upstream", r.Stdout.TrimEnd());
        // One connection from curl to the proxy and one from the proxy upstream, three requests.
        Assert.Equal(1, up.Accepts);
        Assert.Equal(["GET /one", "GET /chunked", "GET /three"], up.Heads.Select(h => string.Join(' ', h.Split(' ')[..2])));
        List<JsonElement> decisions = Events(audit, "egress.decision");
        Assert.Equal(3, decisions.Count);
        Assert.Single(decisions.Select(d => d.GetProperty("conn").GetInt64()).Distinct());
        Assert.Equal([1, 2, 3], decisions.Select(d => d.GetProperty("request").GetInt32()));
        Assert.All(decisions, d => Assert.Equal("allow", d.GetProperty("decision").GetString()));
        // Each request ends with its status, bytes each way and duration.
        List<JsonElement> ends = Events(audit, "egress.end");
        Assert.Equal(3, ends.Count);
        Assert.All(ends, e =>
        {
            Assert.Equal(200, e.GetProperty("status").GetInt32());
            Assert.True(e.GetProperty("bytes_up").GetInt64() > 20);
            Assert.True(e.GetProperty("bytes_down").GetInt64() > 14);
            Assert.True(e.GetProperty("duration_ms").GetInt64() >= 0);
        });
    }

    [Fact]
    public void APipelinedRequestTheRulesDenyIsRefusedAfterAnAllowedOne()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/python3"), """
                    protocol: rest
                    rules:
                      - allow: { method: GET, path: "/**" }
            """);
        string audit = Path.Combine(wd, "audit.jsonl");
        // python3's http.client through the proxy on one kept-alive connection: GET allowed, POST denied.
        File.WriteAllText(Path.Combine(wd, "ka.py"), $$"""
            import http.client, json
            c = http.client.HTTPConnection("127.0.0.1", 3128)
            c.request("GET", "http://{{up.Address}}:{{up.Port}}/first")
            r = c.getresponse(); print(r.status, r.read().decode())
            c.request("POST", "http://{{up.Address}}:{{up.Port}}/second", body=b"payload", headers={"Content-Type": "text/plain"})
            r = c.getresponse(); body = json.loads(r.read()); print(r.status, body["error"], body["method"], body["binary"])
            """);
        ProcessResult r = Run(policy, wd, audit, "/usr/bin/python3", Path.Combine(wd, "ka.py"));
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("200 hello-upstream", lines[0]);
        Assert.Equal("403 policy_denied POST /usr/bin/python3.11", lines[1]);
        Assert.Single(up.Heads);
        Assert.Empty(up.Bodies);
        List<JsonElement> decisions = Events(audit, "egress.decision");
        Assert.Equal(["allow", "deny"], decisions.Select(d => d.GetProperty("decision").GetString()));
        Assert.Equal(decisions[0].GetProperty("conn").GetInt64(), decisions[1].GetProperty("conn").GetInt64());
    }

    [Fact]
    public void TheSameRequestIsAllowedFromCurlAndDeniedFromPythonUrllib()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/curl"));
        string audit = Path.Combine(wd, "audit.jsonl");
        string url = $"http://{up.Address}:{up.Port}/same";
        // urllib takes the proxy from http_proxy, which the sandbox sets.
        string py = $"import urllib.request, urllib.error\ntry:\n    urllib.request.urlopen('{url}')\nexcept urllib.error.HTTPError as e:\n    print('python', e.code)";
        ProcessResult r = Run(policy, wd, audit, "sh", "-c", $"curl -sS {url}; echo; /usr/bin/python3 -c \"{py}\"");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["hello-upstream", "python 403"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Single(up.Heads);
        List<JsonElement> decisions = Events(audit, "egress.decision");
        Assert.Equal(["/usr/bin/curl", "/usr/bin/python3.11"], decisions.Select(d => d.GetProperty("binary").GetString()));
        Assert.Equal(["allow", "deny"], decisions.Select(d => d.GetProperty("decision").GetString()));
    }

    [Fact]
    public void ResponsesFramedByCloseEndTheAgentsConnection()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/curl"));
        string audit = Path.Combine(wd, "audit.jsonl");
        string b = $"http://{up.Address}:{up.Port}";
        ProcessResult r = Run(policy, wd, audit, "curl", "-sS", $"{b}/close", $"{b}/after");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello-upstream" + "hello-upstream", r.Stdout.TrimEnd());
        // The first response ended only when the upstream closed: the proxy told curl it closes
        // too, so the second request came on a new connection, to a new upstream connection.
        Assert.Equal(2, up.Accepts);
        Assert.Equal(2, Events(audit, "egress.decision").Select(d => d.GetProperty("conn").GetInt64()).Distinct().Count());
    }
}
