using System.Net;
using System.Text.Json;
using Sandboxrun.Tests.Infrastructure;
using Xunit;

namespace Sandboxrun.Tests.Proxy;

/// <summary>
/// Host addresses the sandbox's proxy may dial: 198.18.0.1 (allowed upstream) and 198.18.0.2
/// (canary, in no policy), added to the host's lo for the duration of the tests and removed after.
/// Loopback itself is never dialled by the proxy, so the tests cannot use 127.0.0.1.
/// </summary>
public sealed class UpstreamAddresses : IDisposable
{
    public static readonly IPAddress Allowed = IPAddress.Parse("198.18.0.1");
    public static readonly IPAddress Canary = IPAddress.Parse("198.18.0.2");
    private readonly List<IPAddress> _added = [];

    public UpstreamAddresses()
    {
        foreach (IPAddress a in new[] { Allowed, Canary })
            if (ProcessRunner.Run("ip", ["addr", "add", $"{a}/32", "dev", "lo"]).ExitCode == 0)
                _added.Add(a);
    }

    public void Dispose()
    {
        foreach (IPAddress a in _added)
            ProcessRunner.Run("ip", ["addr", "del", $"{a}/32", "dev", "lo"]);
    }
}

/// <summary>A policy file with one network policy for <c>up</c>'s address and port, the given binaries and optional endpoint keys (rules).</summary>
public static class ProxyPolicy
{
    public static (string Workdir, string Policy) Write(string wd, Upstream up, IEnumerable<string> binaries, string rules = "")
    {
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
            {string.Join('\n', binaries.Select(b => $"      - {{ path: {b} }}"))}
            """);
        return (wd, policy);
    }
}

[Collection(SandboxCollection.Name)]
public sealed class EgressProxyTests(SandboxFixture f) : IClassFixture<UpstreamAddresses>
{
    private (string Workdir, string Policy) Setup(Upstream up, string rules = "", params string[] binaries) =>
        ProxyPolicy.Write(f.NewWorkdir(), up, binaries.Length == 0 ? ["/usr/bin/curl"] : binaries, rules);

    private ProcessResult Sh(string policy, string wd, string script, string audit = "") =>
        f.Run(["--policy", policy, .. audit.Length > 0 ? (string[])["--audit", audit] : [], "--", "sh", "-c", script], workdir: wd);

    [Fact]
    public void AllowedBinaryReachesTheUpstreamThroughHttpAndConnect()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        // Named through the /bin link: the policy is resolved the way /proc/PID/exe names the file.
        (string wd, string policy) = Setup(up, "", "/bin/curl");
        string url = $"http://{up.Address}:{up.Port}/hello?x=1";
        ProcessResult r = Sh(policy, wd, $"curl -sS {url}; echo; curl -sS -p {url}");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(2, r.Stdout.Split("hello-upstream").Length - 1);
        // The plain request reached the upstream in origin-form with Host set from the target.
        Assert.Contains(up.Heads, h => h.StartsWith("GET /hello?x=1 HTTP/1.1\r\n", StringComparison.Ordinal) && h.Contains($"Host: {up.Address}:{up.Port}", StringComparison.Ordinal));
    }

    [Fact]
    public void OtherBinariesCopiesAndHostsAreDeniedBeforeAnyByteGoesUpstream()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        using var canary = new Upstream(UpstreamAddresses.Canary);
        (string wd, string policy) = Setup(up);
        string audit = Path.Combine(wd, "audit.jsonl");
        string script = $"""
            cp /usr/bin/curl /tmp/curl; /tmp/curl -s http://{up.Address}:{up.Port}/copied; echo
            curl -s http://{canary.Address}:{canary.Port}/canary; echo
            curl -s -p http://{canary.Address}:{canary.Port}/canary-tunnel; echo "tunnel=$?"
            """;
        ProcessResult r = Sh(policy, wd, script, audit);
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        JsonElement copied = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal("policy_denied", copied.GetProperty("error").GetString());
        Assert.Equal("/tmp/curl", copied.GetProperty("binary").GetString());
        JsonElement host = JsonDocument.Parse(lines[1]).RootElement;
        Assert.Equal("policy_denied", host.GetProperty("error").GetString());
        Assert.Equal(UpstreamAddresses.Canary.ToString(), host.GetProperty("host").GetString());
        Assert.Contains("tunnel=56", r.Stdout, StringComparison.Ordinal); // curl: CONNECT refused with 403
        Assert.Equal(0, up.Accepts);
        Assert.Equal(0, canary.Accepts);

        // One audit decision per request, each a denial naming the binary.
        var decisions = File.ReadAllLines(audit).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("event").GetString() == "egress.decision").ToList();
        Assert.Equal(3, decisions.Count);
        Assert.All(decisions, d => Assert.Equal("deny", d.GetProperty("decision").GetString()));
        Assert.Equal("/tmp/curl", decisions[0].GetProperty("binary").GetString());
    }

    [Fact]
    public void DirectConnectionsWithoutTheProxyFail()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up);
        ProcessResult r = Sh(policy, wd, $"curl -sS --noproxy '*' --max-time 5 http://{up.Address}:{up.Port}/direct; echo \"direct=$?\"");
        Assert.Contains("direct=7", r.Stdout, StringComparison.Ordinal); // no route
        Assert.Equal(0, up.Accepts);
    }

    [Fact]
    public void MethodAndPathRulesAreEnforcedPerRequest()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, """
                    protocol: rest
                    rules:
                      - allow: { method: GET, path: "/allowed/**" }
                    deny_rules:
                      - { method: GET, path: "/allowed/secret/**" }
            """);
        string b = $"http://{up.Address}:{up.Port}";
        string script = $"""
            curl -s {b}/allowed/x; echo
            curl -s -X POST -d data {b}/allowed/x; echo
            curl -s {b}/other; echo
            curl -s {b}/allowed/secret/key; echo
            curl -s --path-as-is {b}/allowed/../other; echo
            """;
        ProcessResult r = Sh(policy, wd, script);
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 5, r.ToString());
        Assert.Equal("hello-upstream", lines[0]);
        Assert.All(lines[1..], l => Assert.Equal("policy_denied", JsonDocument.Parse(l).RootElement.GetProperty("error").GetString()));
        Assert.Equal(1, up.Accepts);
    }

    [Fact]
    public void ASocketSharedWithANonAllowedProcessIsDenied()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, "", "/usr/bin/bash");
        string a = $"{up.Address}:{up.Port}";
        // bash (allowed) opens the socket; cat (not allowed) inherits it and reads the answer.
        File.WriteAllText(Path.Combine(wd, "share.sh"), $"exec 3<>/dev/tcp/127.0.0.1/3128\nsleep 0.3 & printf 'GET http://{a}/x HTTP/1.1\\r\\nHost: {a}\\r\\n\\r\\n' >&3\ncat <&3\n");
        ProcessResult r = f.Run(["--policy", policy, "--", "bash", Path.Combine(wd, "share.sh")], workdir: wd);
        Assert.StartsWith("HTTP/1.1 403", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, up.Accepts);
    }

    [Fact]
    public void AnAllowedParentLendsItsRightsToAChildOnlyWithInherit()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string url = $"http://{up.Address}:{up.Port}/child";
        // bash forks curl (a command after it keeps bash from exec'ing it): curl is judged, bash is its parent.
        string script = $"curl -sS -o /dev/null -w '%{{http_code}}' {url}; echo";
        (string wd, string plain) = Setup(up, "", "/usr/bin/bash");
        ProcessResult denied = f.Run(["--policy", plain, "--", "bash", "-c", script], workdir: wd);
        Assert.Equal("403", denied.Stdout.Trim());
        Assert.Equal(0, up.Accepts);

        string inherit = Path.Combine(wd, "inherit.yaml");
        File.WriteAllText(inherit, File.ReadAllText(plain).Replace("{ path: /usr/bin/bash }", "{ path: /usr/bin/bash, inherit: true }", StringComparison.Ordinal));
        string audit = Path.Combine(wd, "audit.jsonl");
        ProcessResult allowed = f.Run(["--policy", inherit, "--audit", audit, "--", "bash", "-c", script], workdir: wd);
        Assert.Equal("200", allowed.Stdout.Trim());
        Assert.Equal(1, up.Accepts);
        JsonElement decision = File.ReadAllLines(audit).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "egress.decision");
        Assert.Equal("/usr/bin/curl", decision.GetProperty("binary").GetString());
        Assert.Equal("allow", decision.GetProperty("decision").GetString());
    }

    [Fact]
    public void SmuggledAndPipelinedRequestsNeverReachTheUpstream()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, "", "/usr/bin/bash", "/usr/bin/cat");
        string a = $"{up.Address}:{up.Port}";
        ProcessResult Raw(string name, string request)
        {
            // bash writes the raw bytes through /dev/tcp, so no client normalises them first.
            File.WriteAllText(Path.Combine(wd, name), $"exec 3<>/dev/tcp/127.0.0.1/3128\nprintf '{request}' >&3\ncat <&3\n");
            return f.Run(["--policy", policy, "--", "bash", Path.Combine(wd, name)], workdir: wd);
        }

        // Content-Length with Transfer-Encoding: refused with 400, nothing forwarded.
        ProcessResult s = Raw("smuggle.sh", $"POST http://{a}/x HTTP/1.1\\r\\nHost: {a}\\r\\nContent-Length: 4\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n");
        Assert.StartsWith("HTTP/1.1 400", s.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, up.Accepts);

        // Requests pipelined on one connection are each decided on their own: the allowed one is
        // forwarded, the one for a host no policy names gets 403 and never leaves.
        using var canary = new Upstream(UpstreamAddresses.Canary);
        string c = $"{canary.Address}:{canary.Port}";
        ProcessResult p = Raw("pipeline.sh", $"GET http://{a}/one HTTP/1.1\\r\\nHost: {a}\\r\\n\\r\\nGET http://{c}/two HTTP/1.1\\r\\nHost: {c}\\r\\n\\r\\nGET http://{a}/three HTTP/1.1\\r\\nHost: {a}\\r\\n\\r\\n");
        Assert.True(p.ExitCode == 0, p.ToString());
        Assert.StartsWith("HTTP/1.1 200 OK", p.Stdout, StringComparison.Ordinal);
        Assert.Contains("HTTP/1.1 403 Forbidden", p.Stdout, StringComparison.Ordinal);
        Assert.Single(up.Heads);
        Assert.StartsWith("GET /one ", up.Heads.Single(), StringComparison.Ordinal);
        Assert.Equal(0, canary.Accepts);
    }

    [Fact]
    public void ABinaryModifiedAfterThePolicyLoadedIsDeniedAsTampering()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string wd = f.NewWorkdir();
        // The allowed binary lives in the (writable) workdir: its hash is fixed when the policy loads.
        string tool = Path.Combine(wd, "fetch");
        File.Copy("/usr/bin/curl", tool);
        (string _, string policy) = (wd, Path.Combine(wd, "policy.yaml"));
        File.WriteAllText(policy, $"""
            version: 1
            filesystem_policy: {"{"} include_workdir: true, read_only: [/], read_write: [/tmp, /dev/null] {"}"}
            network_policies:
              upstream:
                name: upstream
                endpoints:
                  - {"{"} host: {up.Address}, port: {up.Port} {"}"}
                binaries:
                  - {"{"} path: {tool} {"}"}
            """);
        string url = $"http://{up.Address}:{up.Port}/t";
        // First as loaded (allowed), then with one byte appended to the file (denied, nothing sent).
        ProcessResult r = Sh(policy, wd, $"{tool} -s {url}; echo; printf x >> {tool}; {tool} -s {url}; echo");
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 2, r.ToString());
        Assert.Equal("hello-upstream", lines[0]);
        JsonElement denied = JsonDocument.Parse(lines[1]).RootElement;
        Assert.Equal("policy_denied", denied.GetProperty("error").GetString());
        Assert.Contains("SHA-256", denied.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Single(up.Heads);
    }

    [Fact]
    public void APortTheEndpointDoesNotNameIsDenied()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        using var otherPort = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up);
        ProcessResult r = Sh(policy, wd, $"curl -s http://{up.Address}:{otherPort.Port}/p; echo; curl -s -p http://{up.Address}:{otherPort.Port}/p; echo \"tunnel=$?\"");
        Assert.Equal("policy_denied", JsonDocument.Parse(r.Stdout.Split('\n')[0]).RootElement.GetProperty("error").GetString());
        Assert.Contains("tunnel=56", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, otherPort.Accepts);
    }

    /// <summary>Garbage on many connections never takes the proxy down: each gets 400 (or is closed), and a valid request afterwards is served.</summary>
    [Fact]
    public void GarbageRequestsNeverBreakTheConnectionLoop()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        (string wd, string policy) = Setup(up, "", "/usr/bin/python3");
        string a = $"{up.Address}:{up.Port}";
        File.WriteAllText(Path.Combine(wd, "garbage.py"), $$"""
            import random, socket
            rng = random.Random(7)
            seeds = [b"GET http://{{a}}/x HTTP/1.1\r\nHost: {{a}}\r\n\r\n", b"CONNECT {{a}} HTTP/1.1\r\n\r\n",
                     b"POST http://{{a}}/x HTTP/1.1\r\nHost: {{a}}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
            answers = {}
            for i in range(300):
                data = bytearray(rng.choice(seeds))
                for _ in range(rng.randint(1, 6)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                if rng.random() < 0.2:
                    data = bytearray(rng.randbytes(rng.randint(1, 400)))
                s = socket.create_connection(("127.0.0.1", 3128))
                s.settimeout(10)
                s.sendall(bytes(data))
                s.shutdown(socket.SHUT_WR)
                reply = b""
                try:
                    while chunk := s.recv(65536):
                        reply += chunk
                except OSError:
                    pass
                s.close()
                status = reply[:12].decode("latin1")
                answers[status] = answers.get(status, 0) + 1
            print(sorted(answers.items()))
            s = socket.create_connection(("127.0.0.1", 3128))
            s.sendall(b"GET http://{{a}}/after HTTP/1.1\r\nHost: {{a}}\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            print("after", reply.split(b"\r\n")[0].decode(), reply.endswith(b"hello-upstream"))
            """);
        ProcessResult r = f.Run(["--policy", policy, "--", "/usr/bin/python3", "garbage.py"], workdir: wd, timeout: TimeSpan.FromSeconds(120));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("after HTTP/1.1 200 OK True", r.Stdout, StringComparison.Ordinal);
        // Whatever reached the upstream was a request the parser accepted, framed exactly: every head is a whole GET/POST head.
        Assert.All(up.Heads, h => Assert.Matches(@"^(GET|POST) /\S* HTTP/1\.1\r\nHost: ", h));
    }
}
