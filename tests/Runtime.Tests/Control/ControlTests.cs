using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sandboxrun.Tests.Infrastructure;
using Sandboxrun.Tests.Proxy;
using Xunit;

namespace Sandboxrun.Tests.Control;

/// <summary>
/// The control socket of running sandboxes: ps, logs, policy get and policy apply (live reload),
/// against real sandboxes whose agents keep running while the policy changes under them.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class ControlTests(SandboxFixture f) : IClassFixture<UpstreamAddresses>
{
    private static string Name(string what) => $"t-{what}-{Guid.NewGuid().ToString("N")[..8]}";

    private static string Policy(string hosts, string binaries = "      - { path: /usr/bin/curl }\n      - { path: /usr/bin/python3 }", string readOnly = "[/]") => $"""
        version: 1
        filesystem_policy:
          include_workdir: true
          read_only: {readOnly}
          read_write: [/tmp, /dev/null]
        network_policies:
          upstream:
            name: upstream
            endpoints:
        {hosts}
            binaries:
        {binaries}
        """;

    private static string Endpoint(Upstream up) => $"      - {{ host: {up.Address}, port: {up.Port} }}";

    private static string StateDir(string name, uint uid = 0) => uid == 0 ? $"/run/sandboxrun/{name}" : $"/tmp/sandboxrun-{uid}/{name}";

    private static List<JsonElement> Events(string audit, string name) =>
        [.. File.ReadAllLines(audit).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("event").GetString() == name)];

    [Fact]
    public void ALiveReloadFlipsADecisionWhileTheAgentKeepsRunning()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string wd = f.NewWorkdir();
        string name = Name("reload");
        File.WriteAllText(Path.Combine(wd, "p1.yaml"), Policy(Endpoint(up)));
        File.WriteAllText(Path.Combine(wd, "p2.yaml"), Policy("      - { host: other.example, port: 80 }"));
        string audit = Path.Combine(wd, "audit.jsonl");
        string url = $"http://{up.Address}:{up.Port}/data";
        string script = $"curl -s {url}; echo; echo first; while [ ! -e go ]; do sleep 0.05; done; curl -s {url}; echo; echo second";
        using RunningProcess agent = f.Start(["--name", name, "--policy", Path.Combine(wd, "p1.yaml"), "--audit", audit, "--", "sh", "-c", script], workdir: wd);
        agent.WaitUntil(() => agent.Stdout.Contains("first", StringComparison.Ordinal), "the first request");

        ProcessResult get1 = f.Run(["policy", "get", name]);
        Assert.True(get1.ExitCode == 0, get1.ToString());
        Assert.StartsWith($"# {name}: generation 1, from {Path.Combine(wd, "p1.yaml")}", get1.Stdout, StringComparison.Ordinal);
        Assert.Contains(up.Address.ToString(), get1.Stdout, StringComparison.Ordinal);

        ProcessResult apply = f.Run(["policy", "apply", name, Path.Combine(wd, "p2.yaml")]);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Contains("as generation 2", apply.Stdout, StringComparison.Ordinal);
        ProcessResult get2 = f.Run(["policy", "get", name]);
        Assert.StartsWith($"# {name}: generation 2, from {Path.Combine(wd, "p2.yaml")}", get2.Stdout, StringComparison.Ordinal);
        Assert.Contains("other.example", get2.Stdout, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(wd, "go"), "");
        ProcessResult r = agent.Wait();
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("hello-upstream", lines[0]);
        Assert.Equal("policy_denied", JsonDocument.Parse(lines[2]).RootElement.GetProperty("error").GetString());
        Assert.Single(up.Heads);

        // The same agent, two generations: the audit log shows the reload between the decisions.
        Assert.Equal(["allow", "deny"], Events(audit, "egress.decision").Select(d => d.GetProperty("decision").GetString()));
        Assert.Equal([1L, 2L], Events(audit, "egress.decision").Select(d => d.GetProperty("generation").GetInt64()));
        JsonElement reload = Assert.Single(Events(audit, "policy.reload"));
        Assert.Equal(2, reload.GetProperty("generation").GetInt64());
        Assert.Equal(Path.Combine(wd, "p2.yaml"), reload.GetProperty("policy").GetString());
        Assert.False(Directory.Exists(StateDir(name)), "the state directory is removed when the sandbox exits");
    }

    [Fact]
    public void TheNextRequestOnAKeptAliveConnectionIsDecidedByTheNewPolicy()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string wd = f.NewWorkdir();
        string name = Name("keepalive");
        File.WriteAllText(Path.Combine(wd, "p1.yaml"), Policy(Endpoint(up)));
        File.WriteAllText(Path.Combine(wd, "p2.yaml"), Policy("      - { host: other.example, port: 80 }"));
        string audit = Path.Combine(wd, "audit.jsonl");
        File.WriteAllText(Path.Combine(wd, "ka.py"), $$"""
            import http.client, os, time
            c = http.client.HTTPConnection("127.0.0.1", 3128)
            c.request("GET", "http://{{up.Address}}:{{up.Port}}/before")
            r = c.getresponse(); print(r.status, r.read().decode(), flush=True)
            while not os.path.exists("go"): time.sleep(0.05)
            c.request("GET", "http://{{up.Address}}:{{up.Port}}/after")
            r = c.getresponse(); r.read(); print(r.status, flush=True)
            """);
        using RunningProcess agent = f.Start(["--name", name, "--policy", Path.Combine(wd, "p1.yaml"), "--audit", audit, "--", "/usr/bin/python3", "ka.py"], workdir: wd);
        agent.WaitUntil(() => agent.Stdout.Contains("200 hello-upstream", StringComparison.Ordinal), "the first request");
        ProcessResult apply = f.Run(["policy", "apply", name, Path.Combine(wd, "p2.yaml")]);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Contains("; 0 open connection(s) closed", apply.Stdout, StringComparison.Ordinal); // idle between requests: kept
        File.WriteAllText(Path.Combine(wd, "go"), "");
        ProcessResult r = agent.Wait();
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["200 hello-upstream", "403"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        List<JsonElement> decisions = Events(audit, "egress.decision");
        Assert.Equal(decisions[0].GetProperty("conn").GetInt64(), decisions[1].GetProperty("conn").GetInt64());
        Assert.Equal([1L, 2L], decisions.Select(d => d.GetProperty("generation").GetInt64()));
        Assert.Single(up.Heads);
    }

    [Fact]
    public void AReloadClosesOnlyTheTunnelsThatLostTheirPermission()
    {
        using var kept = new Upstream(UpstreamAddresses.Allowed);
        using var dropped = new Upstream(UpstreamAddresses.Canary);
        string wd = f.NewWorkdir();
        string name = Name("revoke");
        File.WriteAllText(Path.Combine(wd, "both.yaml"), Policy(Endpoint(kept) + "\n" + Endpoint(dropped)));
        File.WriteAllText(Path.Combine(wd, "one.yaml"), Policy(Endpoint(kept)));
        string audit = Path.Combine(wd, "audit.jsonl");
        // Two CONNECT tunnels held open by python3; each reports when the proxy closes it.
        File.WriteAllText(Path.Combine(wd, "tunnels.py"), $$"""
            import socket, threading, os, time, sys
            def tunnel(label, host, port):
                s = socket.create_connection(("127.0.0.1", 3128))
                s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
                assert s.recv(1024).startswith(b"HTTP/1.1 200"), label
                print("open", label, flush=True)
                s.settimeout(20)
                try:
                    data = s.recv(1)
                    print("closed", label, repr(data), flush=True)
                except socket.timeout:
                    print("still-open", label, flush=True)
            threads = [threading.Thread(target=tunnel, args=("kept", "{{kept.Address}}", {{kept.Port}})),
                       threading.Thread(target=tunnel, args=("dropped", "{{dropped.Address}}", {{dropped.Port}}))]
            for t in threads: t.start()
            while not os.path.exists("go"): time.sleep(0.05)
            time.sleep(1.5)
            print("done", flush=True)
            os._exit(0)
            """);
        using RunningProcess agent = f.Start(["--name", name, "--policy", Path.Combine(wd, "both.yaml"), "--audit", audit, "--", "/usr/bin/python3", "tunnels.py"], workdir: wd);
        agent.WaitUntil(() => agent.Stdout.Contains("open kept", StringComparison.Ordinal) && agent.Stdout.Contains("open dropped", StringComparison.Ordinal), "both tunnels");

        ProcessResult apply = f.Run(["policy", "apply", name, Path.Combine(wd, "one.yaml")]);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Contains("; 1 open connection(s) closed", apply.Stdout, StringComparison.Ordinal);
        agent.WaitUntil(() => agent.Stdout.Contains("closed dropped", StringComparison.Ordinal), "the revoked tunnel to close");
        File.WriteAllText(Path.Combine(wd, "go"), "");
        ProcessResult r = agent.Wait();
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("closed dropped b''", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("closed kept", r.Stdout, StringComparison.Ordinal);

        JsonElement revoked = Assert.Single(Events(audit, "egress.revoked"));
        Assert.Equal(UpstreamAddresses.Canary.ToString(), revoked.GetProperty("host").GetString());
        Assert.Equal("tunnel", revoked.GetProperty("carrying").GetString());
        Assert.Equal(2, revoked.GetProperty("generation").GetInt64());
        Assert.Contains(Events(audit, "egress.end"), e => e.GetProperty("host").GetString() == UpstreamAddresses.Canary.ToString() && e.GetProperty("revoked").GetBoolean());
    }

    [Fact]
    public void AReloadToAnInheritEntryJudgesOpenTunnelsByTheProcessesAncestors()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string wd = f.NewWorkdir();
        string name = Name("inherit");
        // own: python3 is named itself, no inherit anywhere, so the proxy identifies without
        // ancestors. parent: only bash, python3's parent, with inherit. strict: bash without it.
        File.WriteAllText(Path.Combine(wd, "own.yaml"), Policy(Endpoint(up)));
        File.WriteAllText(Path.Combine(wd, "parent.yaml"), Policy(Endpoint(up), binaries: "      - { path: /usr/bin/bash, inherit: true }"));
        File.WriteAllText(Path.Combine(wd, "strict.yaml"), Policy(Endpoint(up), binaries: "      - { path: /usr/bin/bash }"));
        string audit = Path.Combine(wd, "audit.jsonl");
        File.WriteAllText(Path.Combine(wd, "tunnel.py"), $$"""
            import socket, os, time
            s = socket.create_connection(("127.0.0.1", 3128))
            s.sendall(b"CONNECT {{up.Address}}:{{up.Port}} HTTP/1.1\r\nHost: {{up.Address}}:{{up.Port}}\r\n\r\n")
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
            print("open", flush=True)
            s.settimeout(30)
            try:
                print("closed", repr(s.recv(1)), flush=True)
            except socket.timeout:
                print("still-open", flush=True)
            """);
        // bash stays python3's parent (a command after it keeps bash from exec'ing it).
        using RunningProcess agent = f.Start(["--name", name, "--policy", Path.Combine(wd, "own.yaml"), "--audit", audit, "--",
            "/usr/bin/bash", "-c", "/usr/bin/python3 tunnel.py; echo finished"], workdir: wd);
        agent.WaitUntil(() => agent.Stdout.Contains("open", StringComparison.Ordinal), "the tunnel");

        ProcessResult lend = f.Run(["policy", "apply", name, Path.Combine(wd, "parent.yaml")]);
        Assert.True(lend.ExitCode == 0, lend.ToString());
        Assert.Contains("; 0 open connection(s) closed", lend.Stdout, StringComparison.Ordinal);
        ProcessResult strict = f.Run(["policy", "apply", name, Path.Combine(wd, "strict.yaml")]);
        Assert.True(strict.ExitCode == 0, strict.ToString());
        Assert.Contains("; 1 open connection(s) closed", strict.Stdout, StringComparison.Ordinal);
        ProcessResult r = agent.Wait();
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("closed b''", r.Stdout, StringComparison.Ordinal);

        JsonElement revoked = Assert.Single(Events(audit, "egress.revoked"));
        Assert.Equal(3, revoked.GetProperty("generation").GetInt64());
        Assert.EndsWith("/python3.11", revoked.GetProperty("binary").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AnInvalidPolicyOrAChangeToStaticSectionsChangesNothing()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string wd = f.NewWorkdir();
        string name = Name("refuse");
        string running = Policy(Endpoint(up));
        File.WriteAllText(Path.Combine(wd, "p.yaml"), running);
        File.WriteAllText(Path.Combine(wd, "static.yaml"), Policy("      - { host: other.example, port: 80 }", readOnly: "[/usr, /etc]"));
        File.WriteAllText(Path.Combine(wd, "invalid.yaml"), Policy("      - { host: \"*\", port: 80 }"));
        // Same meaning in another spelling: block style, reordered keys, a comment.
        File.WriteAllText(Path.Combine(wd, "restyled.yaml"), running.Replace("  include_workdir: true\n  read_only: [/]", "  read_only:\n    - /   # root\n  include_workdir: true", StringComparison.Ordinal));
        using RunningProcess agent = f.Start(["--name", name, "--policy", Path.Combine(wd, "p.yaml"), "--", "sh", "-c", "echo up; while [ ! -e go ]; do sleep 0.05; done"], workdir: wd);
        agent.WaitUntil(() => agent.Stdout.Contains("up", StringComparison.Ordinal), "the agent");

        ProcessResult s = f.Run(["policy", "apply", name, Path.Combine(wd, "static.yaml")]);
        Assert.Equal(2, s.ExitCode);
        Assert.Contains("filesystem_policy cannot change while the sandbox runs", s.Stderr, StringComparison.Ordinal);
        ProcessResult i = f.Run(["policy", "apply", name, Path.Combine(wd, "invalid.yaml")]);
        Assert.Equal(2, i.ExitCode);
        Assert.Matches(@"invalid\.yaml:\d+:\d+: network_policies\.upstream\.endpoints\[0\]\.host", i.Stderr);
        Assert.StartsWith($"# {name}: generation 1,", f.Run(["policy", "get", name]).Stdout, StringComparison.Ordinal);

        ProcessResult restyled = f.Run(["policy", "apply", name, Path.Combine(wd, "restyled.yaml")]);
        Assert.True(restyled.ExitCode == 0, restyled.ToString());
        Assert.StartsWith($"# {name}: generation 2,", f.Run(["policy", "get", name]).Stdout, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(wd, "go"), "");
        Assert.Equal(0, agent.Wait().ExitCode);
    }

    [Fact]
    public void PsAndLogsShowRunningSandboxesAndTheirDecisions()
    {
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string wd = f.NewWorkdir();
        string name = Name("ps");
        File.WriteAllText(Path.Combine(wd, "p.yaml"), Policy(Endpoint(up), binaries: "      - { path: /usr/bin/python3 }"));
        // The URL carries a password: ps shows the command with it masked.
        string script = $"curl -s -X POST http://bot:pa55word@{up.Address}:{up.Port}/repos/x/pulls >/dev/null; echo ready; while [ ! -e go ]; do sleep 0.05; done";
        using RunningProcess agent = f.Start(["--name", name, "--policy", Path.Combine(wd, "p.yaml"), "--", "sh", "-c", script], workdir: wd);
        agent.WaitUntil(() => agent.Stdout.Contains("ready", StringComparison.Ordinal), "the agent's request");

        ProcessResult ps = f.Run(["ps", "--json"]);
        Assert.True(ps.ExitCode == 0, ps.ToString());
        JsonElement row = Assert.Single(JsonDocument.Parse(ps.Stdout).RootElement.EnumerateArray(), e => e.GetProperty("name").GetString() == name);
        Assert.Equal(0, row.GetProperty("allowed").GetInt64());
        Assert.Equal(1, row.GetProperty("denied").GetInt64());
        Assert.Equal(Path.Combine(wd, "p.yaml"), row.GetProperty("policy").GetString());
        Assert.Equal("sh", row.GetProperty("command")[0].GetString());
        Assert.Contains($"http://[redacted]@{up.Address}:{up.Port}/repos/x/pulls", row.GetProperty("command")[2].GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("pa55word", ps.Stdout, StringComparison.Ordinal);
        Assert.True(row.GetProperty("pid").GetInt32() > 1);
        Assert.Contains(f.Run(["ps"]).Stdout.Split('\n'), l => l.StartsWith(name + " ", StringComparison.Ordinal));

        ProcessResult logs = f.Run(["logs", name]);
        Assert.True(logs.ExitCode == 0, logs.ToString());
        Assert.True(Regex.IsMatch(logs.Stdout, $@"\d\d:\d\d:\d\d DENY  POST {up.Address}:{up.Port}/repos/x/pulls  curl  \(policy upstream: /usr/bin/curl is not among the binaries"), logs.Stdout);
        ProcessResult json = f.Run(["logs", name, "--json"]);
        Assert.Contains(json.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => JsonDocument.Parse(l).RootElement.GetProperty("event").GetString() == "egress.decision");

        // -f follows until the sandbox exits.
        using RunningProcess follow = new(f.Sandboxrun, ["logs", name, "-f"]);
        follow.WaitUntil(() => follow.Stdout.Contains("DENY", StringComparison.Ordinal), "logs -f to print the decision");
        File.WriteAllText(Path.Combine(wd, "go"), "");
        Assert.Equal(0, agent.Wait().ExitCode);
        ProcessResult followed = follow.Wait(TimeSpan.FromSeconds(10));
        Assert.Equal(0, followed.ExitCode);
        Assert.Contains("sandbox.exit status=0", followed.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void ANameInUseIsRefusedAndAStaleStateDirectoryIsTakenOver()
    {
        string wd = f.NewWorkdir();
        string name = Name("dup");
        using RunningProcess first = f.Start(["--name", name, "--", "sh", "-c", "echo up; while [ ! -e go ]; do sleep 0.05; done"], workdir: wd);
        first.WaitUntil(() => first.Stdout.Contains("up", StringComparison.Ordinal), "the first sandbox");
        ProcessResult second = f.Run(["--name", name, "--", "true"]);
        Assert.Equal(125, second.ExitCode);
        Assert.Contains($"a sandbox named '{name}' is already running", second.Stderr, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(wd, "go"), "");
        Assert.Equal(0, first.Wait().ExitCode);

        // A supervisor killed with SIGKILL leaves its directory; the next start under the name takes it over.
        Directory.CreateDirectory(StateDir(name), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(StateDir(name), "audit.jsonl"), "{}\n");
        using (var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            dead.Bind(new UnixDomainSocketEndPoint(Path.Combine(StateDir(name), "control.sock"))); // bound, never listening
        ProcessResult third = f.Run(["--name", name, "--", "true"]);
        Assert.True(third.ExitCode == 0, third.ToString());
        Assert.False(Directory.Exists(StateDir(name)));
    }

    [SkippableFact]
    public void OtherUsersCannotControlTheSandbox()
    {
        Skip.If(f.User is null, "needs the unprivileged user the suite creates as root");
        (string account, uint uid, uint gid) = f.User!.Value;
        string wd = f.NewWorkdir();
        string name = Name("peer");
        using RunningProcess agent = f.Start(["--name", name, "--", "sh", "-c", "echo up; while [ ! -e go ]; do sleep 0.05; done"], workdir: wd);
        agent.WaitUntil(() => agent.Stdout.Contains("up", StringComparison.Ordinal), "the agent");
        try
        {
            // The directories keep other users out. Opened up here (this sandbox's directory made
            // 0711, its socket 0666, reached through a bind mount in a private mount namespace, so
            // the shared base directory is left alone), the socket itself still refuses them (SO_PEERCRED).
            File.SetUnixFileMode(StateDir(name), (UnixFileMode)Convert.ToInt32("711", 8));
            File.SetUnixFileMode(Path.Combine(StateDir(name), "control.sock"), (UnixFileMode)Convert.ToInt32("666", 8));
            string door = f.NewWorkdir();
            // A refused peer is answered at once, before it sends anything (so read first; a peer
            // the check wrongly let in would get nothing and the reply would not parse).
            string py = $"import socket; s = socket.socket(socket.AF_UNIX); s.connect('{door}/control.sock'); print(s.recv(4096).decode())";
            string user = string.Join(' ', SandboxFixture.AsUser(uid, gid));
            ProcessResult r = ProcessRunner.Run("unshare", ["-m", "--propagation", "private", "sh", "-c",
                $"mount --bind {StateDir(name)} {door} && exec setpriv {user} /usr/bin/python3 -c \"$0\"", py]);
            Assert.True(r.ExitCode == 0, r.ToString());
            JsonElement reply = JsonDocument.Parse(r.Stdout).RootElement;
            Assert.False(reply.GetProperty("ok").GetBoolean());
            Assert.Equal($"uid {uid.ToString(CultureInfo.InvariantCulture)} may not control this sandbox", reply.GetProperty("error").GetString());
            Assert.False(reply.TryGetProperty("text", out _));
            // And as that user, `ps` does not see root's sandboxes at all.
            ProcessResult ps = ProcessRunner.Run("setpriv", [.. SandboxFixture.AsUser(uid, gid), f.Sandboxrun, "ps", "--json"], env: new Dictionary<string, string?> { ["USER"] = account });
            Assert.Equal("[]", ps.Stdout.Trim());
        }
        finally
        {
            File.WriteAllText(Path.Combine(wd, "go"), "");
            agent.Wait();
        }
    }

    [SkippableFact]
    public void RootlessSandboxesAreListedAndReloadedByTheirOwner()
    {
        f.SkipRootlessIfUnavailable(rootless: true);
        using var up = new Upstream(UpstreamAddresses.Allowed);
        string wd = f.NewWorkdir(forUser: true);
        string name = Name("user");
        File.WriteAllText(Path.Combine(wd, "p1.yaml"), Policy(Endpoint(up)));
        File.WriteAllText(Path.Combine(wd, "p2.yaml"), Policy("      - { host: other.example, port: 80 }"));
        string url = $"http://{up.Address}:{up.Port}/x";
        using RunningProcess agent = f.Start(["--name", name, "--policy", "p1.yaml", "--", "sh", "-c",
            $"curl -s {url}; echo; echo first; while [ ! -e go ]; do sleep 0.05; done; curl -s {url}; echo"], rootless: true, workdir: wd);
        agent.WaitUntil(() => agent.Stdout.Contains("first", StringComparison.Ordinal), "the first request");
        Assert.True(File.Exists(Path.Combine(StateDir(name, f.User!.Value.Uid), "control.sock")));
        ProcessResult ps = f.Run(["ps", "--json"], rootless: true, workdir: wd);
        Assert.Contains(JsonDocument.Parse(ps.Stdout).RootElement.EnumerateArray(), e => e.GetProperty("name").GetString() == name);
        ProcessResult apply = f.Run(["policy", "apply", name, "p2.yaml"], rootless: true, workdir: wd);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        File.WriteAllText(Path.Combine(wd, "go"), "");
        ProcessResult r = agent.Wait();
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines[0] == "hello-upstream", r.ToString());
        Assert.Equal("policy_denied", JsonDocument.Parse(lines[2]).RootElement.GetProperty("error").GetString());
    }
}
