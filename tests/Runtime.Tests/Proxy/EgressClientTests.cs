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
    private (string Workdir, string Policy) Setup(Upstream up, string[] binaries, string rules = "") =>
        ProxyPolicy.Write(f.NewWorkdir(), up, binaries, rules);

    private static string[] Binaries(params string[] paths) => paths;

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

    [Fact]
    public void ADotNetHttpClientUsesTheProxyFromTheEnvironment()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        // The probe is a NativeAOT .NET program; named in the policy by where the fixture copied it.
        (string wd, string policy) = Setup(up, Binaries(f.Probe));
        string audit = Path.Combine(wd, "audit.jsonl");
        ProcessResult allowed = f.Run(["--policy", policy, "--audit", audit, "--", f.Probe, "http-get", $"http://{up.Address}:{up.Port}/dotnet"], workdir: wd);
        Assert.True(allowed.ExitCode == 0, allowed.ToString());
        Assert.Equal("ok 200", allowed.LastLine);
        Assert.Contains("hello-upstream", allowed.Stdout, StringComparison.Ordinal);
        Assert.Contains(up.Heads, h => h.StartsWith("GET /dotnet HTTP/1.1", StringComparison.Ordinal));
        Assert.Equal(f.Probe, Assert.Single(Events(audit, "egress.decision")).GetProperty("binary").GetString());

        // The same client for a host no policy names gets the proxy's 403, and nothing leaves.
        using var canary = new Upstream(UpstreamAddresses.Canary);
        ProcessResult denied = f.Run(["--policy", policy, "--", f.Probe, "http-get", $"http://{canary.Address}:{canary.Port}/dotnet"], workdir: wd);
        Assert.Equal("ok 403", denied.LastLine);
        Assert.Contains("policy_denied", denied.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, canary.Accepts);
    }

    [Fact]
    public void GitClonesOverHttpThroughTheProxyOnlyWhenGitIsAllowed()
    {
        // A bare repository served by the "dumb" HTTP protocol: plain GETs of its files.
        string repo = Path.Combine(f.NewWorkdir(), "repo.git");
        string src = f.NewWorkdir();
        foreach (string[] git in new[]
        {
            new[] { "init", "-q", "-b", "main", src }, ["-C", src, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "hello from upstream"],
            ["clone", "-q", "--bare", src, repo], ["-C", repo, "update-server-info"],
        })
        {
            ProcessResult g = ProcessRunner.Run("git", git);
            Assert.True(g.ExitCode == 0, g.ToString());
        }
        using var up = new Upstream(UpstreamAddresses.Allowed, files: repo);
        (string wd, string policy) = Setup(up, Binaries("/usr/lib/git-core/git-remote-http", "/usr/bin/git"));
        string audit = Path.Combine(wd, "audit.jsonl");
        string url = $"http://{up.Address}:{up.Port}/";
        ProcessResult r = Run(policy, wd, audit, "sh", "-c", $"git clone -q {url} clone && git -C clone log --format=%s");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello from upstream", r.Stdout.Trim());
        List<JsonElement> decisions = Events(audit, "egress.decision");
        Assert.Contains(decisions, d => d.GetProperty("path").GetString() == "/info/refs");
        Assert.All(decisions, d => Assert.Equal("allow", d.GetProperty("decision").GetString()));
        Assert.All(decisions, d => Assert.Equal("/usr/lib/git-core/git-remote-http", d.GetProperty("binary").GetString()));

        // curl may fetch from the same host, git may not: the same URL, refused for git.
        (string wd2, string curlOnly) = Setup(up, Binaries("/usr/bin/curl"));
        int before = up.Heads.Count;
        ProcessResult denied = f.Run(["--policy", curlOnly, "--", "git", "clone", "-q", url, "clone"], workdir: wd2);
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Contains("403", denied.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, up.Heads.Count);
    }

    /// <summary>
    /// Names that resolve to loopback, link-local (cloud metadata) or private addresses are refused
    /// after resolution, even when a policy allows the name: the proxy resolves once, checks every
    /// address and dials only a checked one. The names come from an /etc/hosts bind-mounted in a
    /// private mount namespace for this sandboxrun alone, so the host's resolver is untouched.
    /// </summary>
    [Fact]
    public void NamesThatResolveToInternalAddressesAreRefused()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string wd = f.NewWorkdir();
        string hosts = Path.Combine(wd, "hosts");
        File.WriteAllText(hosts, $"""
            127.0.0.1 localhost
            127.0.0.1 rebind-loopback.test
            169.254.169.254 rebind-metadata.test
            10.20.30.40 rebind-private.test
            198.18.0.1 rebind-mixed.test
            127.0.0.2 rebind-mixed.test
            198.18.0.1 named-upstream.test

            """);
        string policy = Path.Combine(wd, "policy.yaml");
        File.WriteAllText(policy, $$"""
            version: 1
            filesystem_policy: { include_workdir: true, read_only: [/], read_write: [/tmp, /dev/null] }
            network_policies:
              names:
                name: names
                endpoints:
                  - { host: rebind-loopback.test, port: {{up.Port}} }
                  - { host: rebind-metadata.test, port: {{up.Port}} }
                  - { host: rebind-private.test, port: {{up.Port}} }
                  - { host: rebind-mixed.test, port: {{up.Port}}, allowed_ips: [198.18.0.1/32] }
                  - { host: named-upstream.test, port: {{up.Port}}, allowed_ips: [198.18.0.0/15] }
                binaries:
                  - { path: /usr/bin/curl }
            """);
        string script = string.Join("; ", new[] { "rebind-loopback", "rebind-metadata", "rebind-private", "rebind-mixed", "named-upstream" }
            .Select(n => $"curl -s http://{n}.test:{up.Port}/x; echo"));
        ProcessResult r = ProcessRunner.Run("unshare", ["-m", "--propagation", "private", "sh", "-c",
            $"mount --bind {hosts} /etc/hosts && exec {f.Sandboxrun} --policy {policy} -- sh -c \"$0\"", script], workdir: wd);
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        string[] classes = ["loopback", "cloud_metadata", "private", "loopback"];
        for (int i = 0; i < 4; i++)
        {
            JsonElement e = JsonDocument.Parse(lines[i]).RootElement;
            Assert.Equal("ssrf_denied", e.GetProperty("error").GetString());
            Assert.Equal(classes[i], e.GetProperty("address_class").GetString());
        }
        // The one name whose every address is allowed (allowed_ips) reaches the upstream.
        Assert.Equal("hello-upstream", lines[4]);
        Assert.Single(up.Heads);
        Assert.Contains("Host: named-upstream.test:", up.Heads.Single(), StringComparison.Ordinal);
    }

    [Fact]
    public void AWebSocketUpgradeIsDecidedByItsHandshakeThenRelayed()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/python3"), """
                    protocol: websocket
                    rules:
                      - allow: { method: GET, path: "/ws/**" }
            """);
        string audit = Path.Combine(wd, "audit.jsonl");
        string a = $"{up.Address}:{up.Port}";
        File.WriteAllText(Path.Combine(wd, "ws.py"), $$"""
            import socket
            def upgrade(path):
                s = socket.create_connection(("127.0.0.1", 3128))
                s.sendall(f"GET http://{{a}}{path} HTTP/1.1\r\nHost: {{a}}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
                head = b""
                while b"\r\n\r\n" not in head:
                    head += s.recv(1)
                return s, head.split(b"\r\n")[0].decode()
            s, status = upgrade("/ws/chat")
            print(status)
            for word in (b"ping", b"pong" * 1000):
                s.sendall(word)
                got = b""
                while len(got) < len(word):
                    got += s.recv(65536)
                print("echo", got == word)
            s.close()
            s, status = upgrade("/admin")
            print(status)
            """);
        ProcessResult r = Run(policy, wd, audit, "/usr/bin/python3", "ws.py");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["HTTP/1.1 101 Switching Protocols", "echo True", "echo True", "HTTP/1.1 403 Forbidden"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Single(up.Heads);
        Assert.Contains("Upgrade: websocket", up.Heads.Single(), StringComparison.Ordinal);
        JsonElement end = Assert.Single(Events(audit, "egress.end"));
        Assert.Equal(101, end.GetProperty("status").GetInt32());
        Assert.True(end.GetProperty("bytes_down").GetInt64() > 4004);
    }

    [Fact]
    public void KeyShapedPathSegmentsAndQueryValuesNeverReachTheAuditLog()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/curl"));
        string audit = Path.Combine(wd, "audit.jsonl");
        const string Bot = "bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        const string Hf = "hf_abcdefghijklmnopqrstuvwx";
        ProcessResult r = Run(policy, wd, audit, "curl", "-sS", $"http://{up.Address}:{up.Port}/{Bot}/send?chat=42&k={Hf}");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello-upstream", r.Stdout.TrimEnd());
        Assert.Contains(Bot, Assert.Single(up.Heads), StringComparison.Ordinal); // the upstream gets the request as sent
        string log = File.ReadAllText(audit);
        Assert.DoesNotContain("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", log, StringComparison.Ordinal);
        Assert.DoesNotContain(Hf, log, StringComparison.Ordinal);
        Assert.Equal("/[redacted]/send", Assert.Single(Events(audit, "egress.decision")).GetProperty("path").GetString());
        Assert.Equal("/[redacted]/send", Assert.Single(Events(audit, "egress.end")).GetProperty("path").GetString());
    }

    [Fact]
    public void ARequestStillOpenWhenTheAgentExitsIsLoggedBeforeTheExit()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/curl"));
        string audit = Path.Combine(wd, "audit.jsonl");
        // The upstream never answers; curl gives up after a second and the sandbox exits while the
        // proxy still waits for the response (it reads nothing from the agent meanwhile).
        ProcessResult r = Run(policy, wd, audit, "curl", "-sS", "-m", "1", $"http://{up.Address}:{up.Port}/stall");
        Assert.True(r.ExitCode == 28, r.ToString()); // curl: operation timed out
        string[] events = [.. File.ReadAllLines(audit).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("event").GetString()!)];
        Assert.Equal(["egress.decision", "egress.end", "sandbox.exit"], events.Where(e => e.StartsWith("egress.", StringComparison.Ordinal) || e == "sandbox.exit"));
        JsonElement end = Assert.Single(Events(audit, "egress.end"));
        Assert.Equal(JsonValueKind.Null, end.GetProperty("status").ValueKind); // no response reached the agent
        Assert.False(end.GetProperty("revoked").GetBoolean()); // ended by the exit, not by a reload
        Assert.True(end.GetProperty("bytes_up").GetInt64() > 20);
    }

    [Fact]
    public void LargeTransfersThroughATunnelArriveIntactBothWays()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/curl"));
        string audit = Path.Combine(wd, "audit.jsonl");
        const int Size = 24 * 1024 * 1024;
        File.WriteAllBytes(Path.Combine(wd, "upload.bin"), Upstream.Pattern(Size / 3));
        string b = $"http://{up.Address}:{up.Port}";
        // curl -p: every request goes through a CONNECT tunnel (spliced by the proxy).
        ProcessResult r = Run(policy, wd, audit, "sh", "-c",
            $"curl -sS -p -o down.bin {b}/big/{Size} && curl -sS -p -o /dev/null -T upload.bin -H 'Content-Type: application/octet-stream' {b}/up");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Upstream.Pattern(Size))),
            Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(wd, "down.bin")))));
        Assert.Equal(Size / 3, Assert.Single(up.Bodies).Length);
        List<JsonElement> ends = Events(audit, "egress.end");
        Assert.Equal(2, ends.Count);
        Assert.True(ends[0].GetProperty("bytes_down").GetInt64() > Size, "the tunnel counts every byte it moved");
        Assert.True(ends[1].GetProperty("bytes_up").GetInt64() > Size / 3);
    }

    [Fact]
    public void AResponseFramedTwoWaysNeverReachesTheAgent()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, Binaries("/usr/bin/curl"));
        string b = $"http://{up.Address}:{up.Port}";
        ProcessResult r = Run(policy, wd, Path.Combine(wd, "audit.jsonl"), "sh", "-c", $"curl -s -w '\\n%{{http_code}}\\n' {b}/ambiguous {b}/after");
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("upstream_unreachable", JsonDocument.Parse(lines[0]).RootElement.GetProperty("error").GetString());
        Assert.Equal("502", lines[1]);
        Assert.DoesNotContain("smuggled", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(["hello-upstream", "200"], lines[2..]);
    }
}
