using System.Text;
using Sandboxrun.Policy;
using Xunit;

namespace Sandboxrun.Tests.Policy;

public class PolicyLoaderTests
{
    private const string Source = "test.yaml";

    // ---- OpenShell fixtures ----

    [Theory]
    [InlineData("testdata-sandbox-policy.yaml")]
    [InlineData("local-inference-policy.yaml")]
    [InlineData("quickstart-policy.yaml")]
    [InlineData("policy-advisor-policy.yaml")]
    [InlineData("gator-policy.yaml")]
    public void OpenShellFixtureLoadsWithoutErrors(string name)
    {
        var result = PolicyLoader.Load(PolicyFixtures.PathOf(name));

        Assert.Empty(result.Errors);
        Assert.True(result.Ok);
        Assert.Equal(1, result.Policy!.Version);
    }

    [Fact]
    public void EveryPolicyFixtureInTheFolderLoads()
    {
        var files = Directory.GetFiles(PolicyFixtures.Directory, "*-policy.yaml");

        Assert.True(files.Length >= PolicyFixtures.PolicyFiles.Length, $"expected at least {PolicyFixtures.PolicyFiles.Length} fixtures, found {files.Length}");
        Assert.All(files, file => Assert.Empty(PolicyLoader.Load(file).Errors));
    }

    [Fact]
    public void TestdataFixtureReadsAsOpenShellMeansIt()
    {
        var policy = PolicyLoader.Load(PolicyFixtures.PathOf("testdata-sandbox-policy.yaml")).Policy!;

        Assert.True(policy.Filesystem.IncludeWorkdir);
        Assert.Equal(["/usr", "/lib", "/proc", "/dev/urandom", "/app", "/etc", "/var/log"], policy.Filesystem.ReadOnly.Select(p => p.Path));
        Assert.Equal(["/sandbox", "/tmp", "/dev/null"], policy.Filesystem.ReadWrite.Select(p => p.Path));
        Assert.Null(policy.Filesystem.Execute);
        Assert.Equal(LandlockCompatibility.BestEffort, policy.Landlock.Compatibility);
        Assert.Equal("sandbox", policy.Process.RunAsUser!.Name);
        Assert.Equal("sandbox", policy.Process.RunAsGroup!.Name);
        Assert.Equal(["claude_code", "github-ssh-over-https", "copilot", "gitlab"], policy.NetworkPolicies.Select(p => p.Name));

        var github = policy.NetworkPolicies[1];
        Assert.Equal("github_ssh_over_https", github.Key);
        var endpoint = Assert.Single(github.Endpoints);
        Assert.Equal(("github.com", 443, "rest", Enforcement.Enforce), (endpoint.Host, endpoint.Ports.Single(), endpoint.Protocol, endpoint.Enforcement));
        Assert.Equal([("GET", "/**/info/refs*"), ("POST", "/**/git-upload-pack")], endpoint.Rules.Select(r => (r.Method, r.Path)));
        Assert.Equal(new SourceLocation(PolicyFixtures.PathOf("testdata-sandbox-policy.yaml"), 50, 13), endpoint.Rules[0].Location);

        var copilot = policy.NetworkPolicies[2];
        Assert.Equal(11, copilot.Endpoints.Length);
        Assert.Equal("/usr/lib/node_modules/@github/copilot/node_modules/@github/**/copilot", copilot.Binaries[0].Path);
        Assert.Equal("/home/*/.local/bin/copilot", copilot.Binaries[2].Path);
        Assert.All(copilot.Endpoints, e => Assert.Equal("", e.Protocol));
    }

    [Fact]
    public void QuickstartFixtureHasAReadOnlyRestEndpoint()
    {
        var policy = PolicyLoader.Load(PolicyFixtures.PathOf("quickstart-policy.yaml")).Policy!;

        Assert.Null(policy.Process.RunAsUser);
        var rule = Assert.Single(policy.NetworkPolicies);
        Assert.Equal(("github_api", "github-api-readonly"), (rule.Key, rule.Name));
        var endpoint = Assert.Single(rule.Endpoints);
        Assert.Equal(("api.github.com", "rest", "read-only"), (endpoint.Host, endpoint.Protocol, endpoint.Access));
        Assert.Equal("/usr/bin/curl", Assert.Single(rule.Binaries).Path);
    }

    [Fact]
    public void LocalInferenceFixtureKeepsNamesWithSpacesAndTlsTerminate()
    {
        var policy = PolicyLoader.Load(PolicyFixtures.PathOf("local-inference-policy.yaml")).Policy!;

        Assert.Contains(policy.Filesystem.ReadOnly, p => p.Path == "/proc/self");
        Assert.Equal(["PyPI", "NVIDIA API (L7 intercept)"], policy.NetworkPolicies.Select(p => p.Name));
        var endpoint = Assert.Single(policy.NetworkPolicies[1].Endpoints);
        Assert.Equal(("terminate", "full", Enforcement.Enforce), (endpoint.Tls, endpoint.Access, endpoint.Enforcement));
    }

    [Fact]
    public void PolicyWithoutBinariesLoadsWithAWarning()
    {
        var result = PolicyLoader.Load(PolicyFixtures.PathOf("policy-advisor-policy.yaml"));

        Assert.True(result.Ok);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal(("network_policies.anthropic", 12, 5), (warning.FieldPath, warning.Location.Line, warning.Location.Column));
        Assert.Contains("has no binaries", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GatorFixtureHasNoNetworkPolicies()
    {
        var policy = PolicyLoader.Load(PolicyFixtures.PathOf("gator-policy.yaml")).Policy!;

        Assert.Empty(policy.NetworkPolicies);
        Assert.Null(policy.Inference);
    }

    [Fact]
    public void RoutesFixtureLoadsWithTheRoutesLoader()
    {
        var result = PolicyLoader.LoadInferenceRoutes(PolicyFixtures.PathOf(PolicyFixtures.RoutesFile));

        Assert.Empty(result.Errors);
        var route = Assert.Single(result.Inference!.Routes);
        Assert.Equal(
            ("inference.local", "http://localhost:1234/v1", "local-model", "lm-studio", (string?)null),
            (route.Name, route.Endpoint, route.Model, route.ApiKey, route.ApiKeyEnv));
        Assert.Equal(new[] { "openai_chat_completions" }, route.Protocols);
    }

    [Fact]
    public void RoutesFileIsNotAPolicy()
    {
        var result = PolicyLoader.Load(PolicyFixtures.PathOf(PolicyFixtures.RoutesFile));

        Assert.Null(result.Policy);
        Assert.Contains(result.Errors, e => e.Message.StartsWith("unknown key 'routes'", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.FieldPath == "version");
    }

    // ---- the full schema ----

    private const string DesignExample = """
        version: 1
        filesystem_policy:
          include_workdir: true
          read_only:  [/usr, /lib, /etc, /proc, /dev/urandom]
          read_write: [/sandbox, /tmp, /dev/null]
          execute: [/usr/bin, /usr/lib]
          deny: [/workspace/.env]
        landlock:
          compatibility: hard_requirement
          tcp_bind: [3000, 0]
          tcp_connect: []
        process:
          run_as_user: sandbox
          run_as_group: 1000
          seccomp: { block: [ptrace, mount], allow: [], default_action: kill, log: true }
          limits: { memory: 4Gi, pids: 512, cpu: 1.5, nofile: 4096 }
          env: { LANG: C.UTF-8, EMPTY: "" }
        network_policies:
          github:
            endpoints:
              - host: API.GitHub.com.
                ports: [443, 8443, 443]
                path: /api
                protocol: rest
                enforcement: audit
                rules:
                  - allow: { method: get, path: "/repos/**", query: { per_page: "1*" } }
                deny_rules:
                  - { method: GET, path: "/repos/*/secrets/**" }
                allowed_ips: [10.0.0.0/8, 192.168.1.5]
                allow_encoded_slash: true
            binaries:
              - { path: /usr/bin/gh, sha256: ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789 }
              - { path: /usr//bin/./git, inherit: true }
        inference:
          routes:
            - name: inference.local
              endpoint: https://api.openai.com/v1
              model: gpt-5
              provider_type: openai
              protocols: [openai_chat_completions]
              api_key_env: OPENAI_API_KEY
        """;

    [Fact]
    public void FullSchemaReadsIntoTheModel()
    {
        var result = PolicyLoader.Parse(DesignExample, Source);

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        var policy = result.Policy!;
        Assert.Equal(Source, policy.Source);
        Assert.Equal(["/usr/bin", "/usr/lib"], policy.Filesystem.Execute!.Value.Select(p => p.Path));
        Assert.Equal(new PolicyPath("/workspace/.env", new SourceLocation(Source, 7, 10)), Assert.Single(policy.Filesystem.Deny));
        Assert.Equal(LandlockCompatibility.HardRequirement, policy.Landlock.Compatibility);
        Assert.Equal(new[] { 3000, 0 }, policy.Landlock.TcpBind!.Value);
        Assert.Empty(policy.Landlock.TcpConnect!.Value);

        var process = policy.Process;
        Assert.Equal(("sandbox", (uint?)null), (process.RunAsUser!.Name, process.RunAsUser.Id));
        Assert.Equal(((string?)null, (uint?)1000), (process.RunAsGroup!.Name, process.RunAsGroup.Id));
        Assert.Equal(new[] { "ptrace", "mount" }, process.Seccomp.Block);
        Assert.Equal((true, SeccompDefaultAction.Kill, true), (process.Seccomp.DefaultProfile, process.Seccomp.DefaultAction, process.Seccomp.Log));
        Assert.Equal(new ResourceLimits(4L << 30, 512, 1.5, 4096), process.Limits);
        Assert.Equal(new KeyValuePair<string, string>[] { new("LANG", "C.UTF-8"), new("EMPTY", "") }, process.Environment);

        var github = Assert.Single(policy.NetworkPolicies);
        Assert.Equal(("github", "github"), (github.Key, github.Name));
        var endpoint = Assert.Single(github.Endpoints);
        Assert.Equal("api.github.com", endpoint.Host);
        Assert.Equal(new[] { 443, 8443 }, endpoint.Ports);
        Assert.Equal(("/api", Enforcement.Audit, (string?)null, true), (endpoint.Path, endpoint.Enforcement, endpoint.Tls, endpoint.AllowEncodedSlash));
        var allow = Assert.Single(endpoint.Rules);
        Assert.Equal(("GET", "/repos/**"), (allow.Method, allow.Path));
        Assert.Equal(new KeyValuePair<string, string>[] { new("per_page", "1*") }, allow.Query);
        Assert.Equal("/repos/*/secrets/**", Assert.Single(endpoint.DenyRules).Path);
        Assert.Equal(new[] { "10.0.0.0/8", "192.168.1.5/32" }, endpoint.AllowedIps);
        Assert.Equal("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", github.Binaries[0].Sha256);
        Assert.Equal(("/usr/bin/git", true), (github.Binaries[1].Path, github.Binaries[1].Inherit));

        var route = Assert.Single(policy.Inference!.Routes);
        Assert.Equal(("inference.local", "gpt-5", "openai", "OPENAI_API_KEY"), (route.Name, route.Model, route.ProviderType, route.ApiKeyEnv));
    }

    [Fact]
    public void AbsentSectionsTakeTheirDefaults()
    {
        var policy = PolicyLoader.Parse("version: 1\nprocess:\n", Source).Policy!;

        Assert.False(policy.Filesystem.IncludeWorkdir);
        Assert.Empty(policy.Filesystem.ReadOnly);
        Assert.Empty(policy.Filesystem.ReadWrite);
        Assert.Null(policy.Filesystem.Execute);
        Assert.Empty(policy.Filesystem.Deny);
        Assert.Equal(new LandlockPolicy(LandlockCompatibility.BestEffort, null, null), policy.Landlock);
        Assert.Null(policy.Process.RunAsUser);
        Assert.Equal((true, SeccompDefaultAction.Errno, false), (policy.Process.Seccomp.DefaultProfile, policy.Process.Seccomp.DefaultAction, policy.Process.Seccomp.Log));
        Assert.Equal(new ResourceLimits(null, null, null, null), policy.Process.Limits);
        Assert.Empty(policy.NetworkPolicies);
        Assert.Null(policy.Inference);
    }

    [Fact]
    public void NumericIdentitiesReadAsIds()
    {
        var policy = PolicyLoader.Parse("version: 1\nprocess: { run_as_user: 1000, run_as_group: \"1001\" }", Source).Policy!;

        Assert.Equal(1000u, policy.Process.RunAsUser!.Id);
        Assert.Equal(1001u, policy.Process.RunAsGroup!.Id);
    }

    [Fact]
    public void AliasesAreResolved()
    {
        const string yaml = """
            version: 1
            network_policies:
              a:
                endpoints: [{ host: a.example.com, port: 443 }]
                binaries: &tools [{ path: /usr/bin/git }, { path: /usr/bin/gh }]
              b:
                endpoints: [{ host: b.example.com, port: 443 }]
                binaries: *tools
            """;

        var policy = PolicyLoader.Parse(yaml, Source).Policy!;

        Assert.Equal(["/usr/bin/git", "/usr/bin/gh"], policy.NetworkPolicies[1].Binaries.Select(b => b.Path));
    }

    // ---- one test per error class: location, field path, message ----

    [Fact]
    public void UnknownKeyNamesTheKeyAndTheAllowedOnes()
    {
        const string yaml = """
            version: 1
            filesystem_policy:
              read_only: [/usr]
              raed_write: [/tmp]
            """;

        AssertError(yaml, 4, 3, "filesystem_policy.raed_write",
            "unknown key 'raed_write'; allowed keys: include_workdir, read_only, read_write, execute, deny");
    }

    [Fact]
    public void UnknownTopLevelKey()
    {
        AssertError("version: 1\nnetwork_policy: {}\n", 2, 1, "network_policy", "unknown key 'network_policy'; allowed keys: version, filesystem_policy,");
    }

    [Theory]
    [InlineData("landlock: [best_effort]", 2, 11, "landlock", "expected a mapping, got a sequence")]
    [InlineData("filesystem_policy:\n  read_only: /usr", 3, 14, "filesystem_policy.read_only", "expected a sequence, got '/usr'")]
    [InlineData("filesystem_policy:\n  include_workdir: yes", 3, 20, "filesystem_policy.include_workdir", "expected true or false, got 'yes'")]
    [InlineData("filesystem_policy:\n  read_only: [{ path: /usr }]", 3, 15, "filesystem_policy.read_only[0]", "expected an absolute path, got a mapping")]
    [InlineData("process:\n  limits: { pids: many }", 3, 19, "process.limits.pids", "expected an integer, got 'many'")]
    [InlineData("process:\n  limits: { cpu: \"2\" }", 3, 18, "process.limits.cpu", "expected a number, got '2'")]
    [InlineData("network_policies: [a]", 2, 19, "network_policies", "expected a mapping, got a sequence")]
    [InlineData("network_policies:\n  a: ~", 3, 6, "network_policies.a", "expected a mapping, got null")]
    public void WrongTypeSaysWhatWasExpected(string body, int line, int column, string path, string message)
    {
        AssertError("version: 1\n" + body, line, column, path, message);
    }

    [Fact]
    public void RelativePathIsRefused()
    {
        AssertError("version: 1\nfilesystem_policy:\n  read_only: [/usr, usr/lib]", 3, 21, "filesystem_policy.read_only[1]",
            "'usr/lib' is a relative path; expected an absolute path starting with /");
    }

    [Fact]
    public void DotDotComponentIsRefused()
    {
        AssertError("version: 1\nfilesystem_policy:\n  deny: [/home/../etc]", 3, 10, "filesystem_policy.deny[0]", "has a '..' component");
    }

    [Fact]
    public void RelativeBinaryPathIsRefused()
    {
        var error = SingleError(Network("{ host: api.example.com, port: 443 }", "{ path: bin/git }"));

        Assert.Equal((7, 17, "network_policies.github.binaries[0].path"), (error.Location.Line, error.Location.Column, error.FieldPath));
        Assert.Contains("relative path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingVersion()
    {
        AssertError("landlock:\n  compatibility: best_effort\n", 1, 1, "version", "required key 'version' is missing");
    }

    [Theory]
    [InlineData("version: 2", "unsupported version 2; expected 1")]
    [InlineData("version: \"1\"", "expected an integer, got '1'")]
    [InlineData("version: one", "expected an integer, got 'one'")]
    public void BadVersion(string line, string message)
    {
        AssertError(line, 1, 10, "version", message);
    }

    [Fact]
    public void DuplicateNetworkPolicyName()
    {
        const string yaml = """
            version: 1
            network_policies:
              first:
                name: shared
                endpoints: [{ host: a.example.com, port: 443 }]
                binaries: [{ path: /usr/bin/curl }]
              second:
                name: shared
                endpoints: [{ host: b.example.com, port: 443 }]
                binaries: [{ path: /usr/bin/curl }]
            """;

        AssertError(yaml, 8, 11, "network_policies.second.name", "duplicate network policy name 'shared' (first at test.yaml:4:11)");
    }

    [Fact]
    public void NameDefaultingToKeyCountsForDuplicates()
    {
        const string yaml = """
            version: 1
            network_policies:
              shared:
                endpoints: [{ host: a.example.com, port: 443 }]
                binaries: [{ path: /usr/bin/curl }]
              other:
                name: shared
                endpoints: [{ host: b.example.com, port: 443 }]
                binaries: [{ path: /usr/bin/curl }]
            """;

        AssertError(yaml, 7, 11, "network_policies.other.name", "duplicate network policy name 'shared'");
    }

    [Fact]
    public void DuplicateYamlKey()
    {
        const string yaml = """
            version: 1
            landlock:
              compatibility: best_effort
              compatibility: hard_requirement
            """;

        AssertError(yaml, 4, 3, "landlock.compatibility", "duplicate key 'compatibility' (first at line 3, column 3)");
    }

    [Fact]
    public void EveryDuplicateKeyIsReported()
    {
        var result = PolicyLoader.Parse("version: 1\nversion: 1\nlandlock: { compatibility: best_effort, compatibility: best_effort }\n", Source);

        Assert.Equal([(2, 1, "version"), (3, 41, "landlock.compatibility")], result.Errors.Select(e => (e.Location.Line, e.Location.Column, e.FieldPath)));
    }

    [Theory]
    [InlineData("{ host: api.example.com, port: 70000 }", "70000", "port", "70000 is out of range; expected 1..65535")]
    [InlineData("{ host: api.example.com, port: 0 }", "0", "port", "0 is out of range; expected 1..65535")]
    [InlineData("{ host: api.example.com, port: \"443\" }", "\"443\"", "port", "expected an integer, got '443'")]
    [InlineData("{ host: api.example.com, ports: [443, -1] }", "-1", "ports[1]", "-1 is out of range")]
    [InlineData("{ host: api.example.com, ports: [] }", "[]", "ports", "expected at least one port")]
    [InlineData("{ host: api.example.com }", "{", "port", "required key 'port' (or 'ports') is missing")]
    public void BadPort(string endpoint, string at, string field, string message)
    {
        AssertEndpointError(endpoint, at, field, message);
    }

    [Fact]
    public void PortAndPortsTogether()
    {
        AssertEndpointError("{ host: api.example.com, port: 443, ports: [443, 8443] }", "ports", "ports", "give either port or ports, not both");
    }

    [Theory]
    [InlineData("*", "followed by at least two literal labels")]
    [InlineData("**", "followed by at least two literal labels")]
    [InlineData("*.com", "followed by at least two literal labels")]
    [InlineData("**.com", "followed by at least two literal labels")]
    [InlineData("api-*.com", "followed by at least two literal labels")]
    [InlineData("example.*", "followed by at least two literal labels")]
    [InlineData("api.*.com", "followed by at least two literal labels")]
    [InlineData("a.b*.example.com", "a wildcard after the first label must be a whole '*' label")]
    [InlineData("a.**.example.com", "'**' is only allowed as the whole first label")]
    [InlineData("a**.example.com", "'**' is only allowed as the whole first label")]
    [InlineData("api..example.com", "has an empty label")]
    [InlineData("api.example.com:443", "give the port in 'port' or 'ports'")]
    [InlineData("api/v1.example.com", "'/', which is not allowed in a host name")]
    [InlineData("", "expected a host name, got an empty string")]
    public void BadHostGlob(string host, string message)
    {
        AssertEndpointError($"{{ host: \"{host}\", port: 443 }}", "\"", "host", message);
    }

    [Theory]
    [InlineData("*.example.com", "*.example.com")]
    [InlineData("**.example.com", "**.example.com")]
    [InlineData("api-*.example.com", "api-*.example.com")]
    [InlineData("api.*.example.com", "api.*.example.com")]
    [InlineData("API.Example.COM.", "api.example.com")]
    [InlineData("10.0.0.1", "10.0.0.1")]
    [InlineData("[::1]", "::1")]
    public void GoodHostIsNormalised(string host, string expected)
    {
        var policy = PolicyLoader.Parse(Network($"{{ host: \"{host}\", port: 443 }}"), Source).Policy!;

        Assert.Equal(expected, policy.NetworkPolicies[0].Endpoints[0].Host);
    }

    [Theory]
    [InlineData("banana", "'banana' is not an IP address or CIDR range")]
    [InlineData("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or CIDR range")]
    [InlineData("127.0.0.1", "127.0.0.1/32 overlaps the loopback range 127.0.0.0/8")]
    [InlineData("127.0.0.0/8", "127.0.0.0/8 overlaps the loopback range 127.0.0.0/8")]
    [InlineData("0.0.0.0/0", "0.0.0.0/0 overlaps the loopback range")]
    [InlineData("169.254.169.254", "overlaps the link-local range 169.254.0.0/16")]
    [InlineData("::1", "::1/128 overlaps the loopback range ::1/128")]
    [InlineData("fe80::/64", "overlaps the link-local range fe80::/10")]
    [InlineData("::/0", "overlaps the loopback range ::1/128")]
    [InlineData("::ffff:127.0.0.1", "overlaps the loopback range")]
    [InlineData("0.0.0.0", "overlaps the unspecified range 0.0.0.0/8")]
    public void BadOrLoopbackCidr(string cidr, string message)
    {
        AssertEndpointError($"{{ host: db.example.com, port: 5432, allowed_ips: [\"{cidr}\"] }}", "\"", "allowed_ips[0]", message);
    }

    [Fact]
    public void CidrWithHostBitsIsMaskedWithAWarning()
    {
        var result = PolicyLoader.Parse(Network("{ host: db.example.com, port: 5432, allowed_ips: [10.1.2.3/8, \"fd00::/8\"] }"), Source);

        Assert.Equal(new[] { "10.0.0.0/8", "fd00::/8" }, result.Policy!.NetworkPolicies[0].Endpoints[0].AllowedIps);
        Assert.Contains("host bits set", Assert.Single(result.Warnings).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run_as_user", "root")]
    [InlineData("run_as_user", "0")]
    [InlineData("run_as_group", "\"0\"")]
    [InlineData("run_as_group", "root")]
    public void RootIdentityIsRefused(string key, string value)
    {
        AssertError($"version: 1\nprocess:\n  {key}: {value}", 3, key.Length + 5, $"process.{key}", "root is refused");
    }

    [Theory]
    [InlineData("4GB", "'4GB' is not a size")]
    [InlineData("1.5Gi", "'1.5Gi' is not a size")]
    [InlineData("-1", "'-1' is not a size")]
    [InlineData("0", "'0' is out of range")]
    [InlineData("99999999Ti", "is out of range")]
    public void BadMemorySize(string value, string message)
    {
        AssertError($"version: 1\nprocess:\n  limits:\n    memory: {value}", 4, 13, "process.limits.memory", message);
    }

    [Theory]
    [InlineData("graphql", "protocol graphql is not supported yet; supported: rest, websocket")]
    [InlineData("sql", "protocol sql is not supported yet")]
    [InlineData("tcp", "protocol tcp is not supported yet")]
    [InlineData("ftp", "unknown protocol 'ftp'; expected one of rest, websocket, tcp, graphql, mcp, json-rpc, sql")]
    public void UnsupportedProtocol(string protocol, string message)
    {
        AssertEndpointError($"{{ host: api.example.com, port: 443, protocol: {protocol} }}", protocol, "protocol", message);
    }

    [Fact]
    public void AccessAndRulesTogether()
    {
        AssertEndpointError(
            "{ host: api.example.com, port: 443, protocol: rest, access: read-only, rules: [{ allow: { method: GET } }] }",
            "rules", "rules", "access and rules are mutually exclusive");
    }

    [Fact]
    public void RulesWithoutProtocol()
    {
        AssertEndpointError("{ host: api.example.com, port: 443, access: full }", "access", "access", "access needs protocol: rest or websocket");
    }

    [Fact]
    public void RulesWithTlsSkip()
    {
        AssertEndpointError("{ host: api.example.com, port: 443, protocol: rest, tls: skip, access: full }", "access", "access", "cannot be enforced with tls: skip");
    }

    [Fact]
    public void BadSha256()
    {
        var error = SingleError(Network("{ host: api.example.com, port: 443 }", "{ path: /usr/bin/curl, sha256: abc123 }"));

        Assert.Equal((7, 40, "network_policies.github.binaries[0].sha256"), (error.Location.Line, error.Location.Column, error.FieldPath));
        Assert.Contains("expected 64 hexadecimal digits", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadSyscallName()
    {
        AssertError("version: 1\nprocess:\n  seccomp:\n    block: [ptrace, Mount]", 4, 21, "process.seccomp.block[1]",
            "unknown syscall 'Mount' (did you mean 'mount'?)");
    }

    [Fact]
    public void UnknownSyscallNameGetsASuggestion()
    {
        AssertError("version: 1\nprocess:\n  seccomp:\n    allow: [ptrce]", 4, 13, "process.seccomp.allow[0]",
            "unknown syscall 'ptrce' (did you mean 'ptrace'?)");
        AssertError("version: 1\nprocess:\n  seccomp:\n    block: [frobnicate]", 4, 13, "process.seccomp.block[0]",
            "unknown syscall 'frobnicate'");
    }

    [Fact]
    public void SyscallBothBlockedAndAllowedIsAnError()
    {
        AssertError("version: 1\nprocess:\n  seccomp:\n    block: [ptrace]\n    allow: [bpf, ptrace]", 5, 18, "process.seccomp.allow[1]",
            "'ptrace' is also in process.seccomp.block");
    }

    [Fact]
    public void BadEnvironmentName()
    {
        AssertError("version: 1\nprocess:\n  env: { 1BAD: x }", 3, 10, "process.env.1BAD", "not a valid environment variable name");
    }

    [Fact]
    public void InferenceRouteNeedsAnHttpEndpoint()
    {
        AssertError("version: 1\ninference:\n  routes: [{ name: r, endpoint: ftp://x/v1, protocols: [p], api_key_env: K }]", 3, 33,
            "inference.routes[0].endpoint", "not an absolute http:// or https:// URL");
    }

    [Fact]
    public void AllErrorsAreCollected()
    {
        const string yaml = """
            version: 1
            filesystem_policy:
              read_only: [relative]
              bogus: true
            process:
              run_as_user: root
              seccomp: { block: [BAD] }
            network_policies:
              github:
                endpoints: [{ host: "*", port: 99999 }]
            """;

        var result = PolicyLoader.Parse(yaml, Source);

        Assert.Null(result.Policy);
        Assert.Equal(
            ["filesystem_policy.read_only[0]", "filesystem_policy.bogus", "process.run_as_user", "process.seccomp.block[0]",
             "network_policies.github.endpoints[0].host", "network_policies.github.endpoints[0].port"],
            result.Errors.Select(e => e.FieldPath));
    }

    // ---- YAML-level problems ----

    [Fact]
    public void YamlSyntaxErrorBecomesOneLocatedError()
    {
        var error = SingleError("version: 1\nfilesystem_policy:\n  read_only: [/usr\n");

        Assert.True(error.Location.Line >= 3, error.ToString());
        Assert.StartsWith("invalid YAML: ", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", 1, 1, "the document is empty")]
    [InlineData("# nothing\n", 1, 1, "the document is empty")]
    [InlineData("version: 1\n---\nversion: 1\n", 2, 1, "expected a single YAML document")]
    [InlineData("- version: 1\n", 1, 1, "expected a mapping, got a sequence")]
    [InlineData("version: 1\nlandlock: *missing\n", 2, 11, "alias *missing refers to no anchor")]
    [InlineData("version: 1\n? [a]\n: b\n", 2, 3, "expected a scalar key, got a sequence")]
    public void MalformedDocument(string yaml, int line, int column, string message)
    {
        var error = SingleError(yaml);

        Assert.Equal((line, column), (error.Location.Line, error.Location.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("version: 1\nnetwork_policies: { p: &a { binaries: [*a] } }\n", 2, 40)]
    [InlineData("version: 1\nlandlock: &a { compatibility: best_effort }\nnetwork_policies: &a { p: { binaries: *a } }\n", 3, 39)]
    public void CyclicAliasIsRefused(string yaml, int line, int column)
    {
        var error = SingleError(yaml);

        Assert.Equal((line, column), (error.Location.Line, error.Location.Column));
        Assert.Equal("alias *a is inside the node it refers to", error.Message);
    }

    [Fact]
    public void NullForARequiredKeySaysSo()
    {
        AssertEndpointError("{ host: ~, port: 443 }", "~", "host", "expected a value, got null");
    }

    [Fact]
    public void DeepNestingIsAnErrorNotAStackOverflow()
    {
        var yaml = "version: 1\nx: " + new string('[', 100_000) + new string(']', 100_000) + "\n";

        var error = SingleError(yaml);

        Assert.Equal((2, 67), (error.Location.Line, error.Location.Column));
        Assert.Contains("nesting is deeper than 64 levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AliasBombIsRefused()
    {
        var yaml = new StringBuilder("version: 1\nl0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i <= 9; i++)
        {
            yaml.Append($"l{i}: &a{i} [").AppendJoin(", ", Enumerable.Repeat($"*a{i - 1}", 10)).Append("]\n");
        }

        var error = SingleError(yaml.ToString());

        Assert.Contains("more than 1000000 nodes once aliases are expanded", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OversizedTextIsRefused()
    {
        var error = SingleError("version: 1\n#" + new string('x', PolicyLoader.MaxPolicySize));

        Assert.Contains("larger than 4 MiB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFileIsAnError()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sandboxrun-missing-{Guid.NewGuid():N}.yaml");

        var error = Assert.Single(PolicyLoader.Load(path).Errors);

        Assert.Equal(new SourceLocation(path, 0, 0), error.Location);
        Assert.StartsWith("cannot read the file: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidUtf8IsAnError()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sandboxrun-latin1-{Guid.NewGuid():N}.yaml");
        File.WriteAllBytes(path, [.. "version: 1\n# caf"u8, 0xE9, (byte)'\n']);
        try
        {
            Assert.Equal("the file is not valid UTF-8", Assert.Single(PolicyLoader.Load(path).Errors).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- helpers ----

    /// <summary>A policy with one network policy 'github' whose endpoint (line 5) starts at column 9.</summary>
    private static string Network(string endpoint, string binary = "{ path: /usr/bin/curl }") => $"""
        version: 1
        network_policies:
          github:
            endpoints:
              - {endpoint}
            binaries:
              - {binary}
        """;

    private static void AssertEndpointError(string endpoint, string at, string field, string message)
    {
        var column = 9 + endpoint.IndexOf(at, StringComparison.Ordinal);
        AssertError(Network(endpoint), 5, column, $"network_policies.github.endpoints[0].{field}", message);
    }

    private static PolicyError SingleError(string yaml)
    {
        var result = PolicyLoader.Parse(yaml, Source);
        Assert.Null(result.Policy);
        return Assert.Single(result.Errors);
    }

    private static void AssertError(string yaml, int line, int column, string path, string message)
    {
        var error = SingleError(yaml);
        Assert.Equal(new SourceLocation(Source, line, column), error.Location);
        Assert.Equal(path, error.FieldPath);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
