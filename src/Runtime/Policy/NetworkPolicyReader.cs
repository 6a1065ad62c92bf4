using System.Collections.Immutable;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>Reads <c>network_policies</c>: named groups of endpoints and the binaries allowed to reach them.</summary>
internal static class NetworkPolicyReader
{
    private static readonly string[] PolicyKeys = ["name", "endpoints", "binaries"];
    private static readonly string[] EndpointKeys =
    [
        "host", "port", "ports", "path", "protocol", "tls", "enforcement", "access",
        "rules", "deny_rules", "allowed_ips", "allow_encoded_slash",
    ];

    // OpenShell's `harness` is deprecated there and ignored; it is accepted so its files still load.
    private static readonly string[] BinaryKeys = ["path", "sha256", "inherit", "harness"];
    private static readonly string[] RuleKeys = ["allow"];
    private static readonly string[] MatchKeys = ["method", "path", "query"];
    private static readonly string[] SupportedProtocols = ["rest", "websocket"];
    private static readonly string[] LaterProtocols = ["tcp", "graphql", "mcp", "json-rpc", "sql"];
    private static readonly string[] TlsChoices = ["skip", "terminate"];
    private static readonly string[] EnforcementChoices = ["enforce", "audit"];
    private static readonly string[] AccessChoices = ["read-only", "read-write", "full"];

    public static ImmutableArray<NetworkPolicy> Read(YamlFields top)
    {
        if (top.Mapping("network_policies", null) is not { } fields)
        {
            return [];
        }

        var policies = ImmutableArray.CreateBuilder<NetworkPolicy>();
        var names = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in fields.Entries)
        {
            var key = keyNode.Value ?? "";
            var path = fields.PathOf(key);
            if (key.Length == 0)
            {
                fields.Diag.Error(keyNode, path, "a network policy key must not be empty");
                continue;
            }

            if (ReadPolicy(fields.Diag, key, value, path) is not { } policy)
            {
                continue;
            }

            if (!names.TryAdd(policy.Name, policy.Location))
            {
                fields.Diag.Error(policy.Location, YamlValues.Join(path, "name"), $"duplicate network policy name {YamlValues.Quote(policy.Name)} (first at {names[policy.Name]})");
                continue;
            }

            policies.Add(policy);
        }

        return policies.DrainToImmutable();
    }

    private static NetworkPolicy? ReadPolicy(PolicyDiagnostics diag, string key, YamlNode node, string path)
    {
        if (YamlFields.Open(diag, node, path, PolicyKeys) is not { } fields)
        {
            return null;
        }

        var name = fields.Text("name") ?? key;
        var endpoints = ImmutableArray.CreateBuilder<NetworkEndpoint>();
        foreach (var (item, itemPath) in fields.Items("endpoints"))
        {
            if (ReadEndpoint(diag, item, itemPath) is { } endpoint)
            {
                endpoints.Add(endpoint);
            }
        }

        var binaries = ImmutableArray.CreateBuilder<BinaryRef>();
        foreach (var (item, itemPath) in fields.Items("binaries"))
        {
            if (ReadBinary(diag, item, itemPath) is { } binary)
            {
                binaries.Add(binary);
            }
        }

        if (!fields.Has("endpoints"))
        {
            diag.Warning(fields.Node, path, $"network policy {YamlValues.Quote(name)} has no endpoints, so it allows nothing");
        }

        if (!fields.Has("binaries"))
        {
            diag.Warning(fields.Node, path, $"network policy {YamlValues.Quote(name)} has no binaries, so it matches no process");
        }

        var location = fields.Value("name") is { } nameNode ? diag.At(nameNode) : diag.At(fields.Node);
        return new NetworkPolicy(key, name, endpoints.DrainToImmutable(), binaries.DrainToImmutable(), location);
    }

    private static NetworkEndpoint? ReadEndpoint(PolicyDiagnostics diag, YamlNode node, string path)
    {
        if (YamlFields.Open(diag, node, path, EndpointKeys) is not { } fields)
        {
            return null;
        }

        var host = "";
        if (fields.Required("host") is { } hostNode && YamlValues.String(diag, hostNode, fields.PathOf("host"), "a host name") is { } rawHost)
        {
            if (PolicySyntax.CheckHost(rawHost, out host) is { } error)
            {
                diag.Error(hostNode, fields.PathOf("host"), error);
            }
        }

        var ports = ReadEndpointPorts(fields);
        var endpointPath = fields.Text("path");
        if (endpointPath is not null && endpointPath[0] != '/')
        {
            diag.Error(fields.Value("path")!, fields.PathOf("path"), $"{YamlValues.Quote(endpointPath)} must start with /");
        }

        var protocol = ReadProtocol(fields);
        var tls = fields.Choice("tls", TlsChoices);
        var enforcement = fields.Choice("enforcement", EnforcementChoices) == "audit" ? Enforcement.Audit : Enforcement.Enforce;
        var access = fields.Choice("access", AccessChoices);
        var rules = ReadRules(fields, "rules", allow: true);
        var denyRules = ReadRules(fields, "deny_rules", allow: false);
        CheckInspection(fields, protocol, tls);

        var allowedIps = ImmutableArray.CreateBuilder<string>();
        foreach (var (item, itemPath) in fields.Items("allowed_ips"))
        {
            if (YamlValues.String(diag, item, itemPath, "an IP address or CIDR range") is not { } raw)
            {
                continue;
            }

            if (PolicySyntax.CheckCidr(raw, out var cidr, out var warning) is { } error)
            {
                diag.Error(item, itemPath, error);
                continue;
            }

            if (warning is not null)
            {
                diag.Warning(item, itemPath, warning);
            }

            allowedIps.Add(cidr);
        }

        return new NetworkEndpoint(
            host, ports, endpointPath, protocol, tls, enforcement, access,
            rules, denyRules, allowedIps.DrainToImmutable(), fields.Bool("allow_encoded_slash", false), diag.At(fields.Node));
    }

    /// <summary>Exactly one of <c>port</c> and <c>ports</c> (non-empty), each 1..65535.</summary>
    private static ImmutableArray<int> ReadEndpointPorts(YamlFields fields)
    {
        var hasPort = fields.Has("port");
        var hasPorts = fields.Has("ports");
        if (hasPort && hasPorts)
        {
            fields.Diag.Error(fields.KeyNode("ports")!, fields.PathOf("ports"), "give either port or ports, not both");
            return [];
        }

        if (hasPort)
        {
            return fields.Integer("port", 1, 65535) is { } port ? [(int)port] : [];
        }

        if (!hasPorts)
        {
            fields.Diag.Error(fields.Node, fields.PathOf("port"), "required key 'port' (or 'ports') is missing");
            return [];
        }

        var ports = PolicyReader.ReadPorts(fields, "ports", 1);
        if (ports.IsEmpty && fields.Value("ports") is YamlSequenceNode { Children.Count: 0 } empty)
        {
            fields.Diag.Error(empty, fields.PathOf("ports"), "expected at least one port");
        }

        return ports;
    }

    /// <summary>"" when absent (plain L4 tunnel); otherwise a protocol sandboxrun can inspect.</summary>
    private static string ReadProtocol(YamlFields fields)
    {
        if (fields.Value("protocol") is not { } node || YamlValues.String(fields.Diag, node, fields.PathOf("protocol")) is not { } text)
        {
            return "";
        }

        var protocol = text.ToLowerInvariant();
        if (Array.IndexOf(SupportedProtocols, protocol) >= 0)
        {
            return protocol;
        }

        fields.Diag.Error(node, fields.PathOf("protocol"), Array.IndexOf(LaterProtocols, protocol) >= 0
            ? $"protocol {protocol} is not supported yet; supported: {string.Join(", ", SupportedProtocols)}"
            : $"unknown protocol {YamlValues.Quote(text)}; expected one of {string.Join(", ", SupportedProtocols.Concat(LaterProtocols))}");
        return "";
    }

    /// <summary>L7 settings need a protocol to inspect and a terminated TLS session to see requests in.</summary>
    private static void CheckInspection(YamlFields fields, string protocol, string? tls)
    {
        if (fields.Has("access") && fields.Has("rules"))
        {
            fields.Diag.Error(fields.KeyNode("rules")!, fields.PathOf("rules"), "access and rules are mutually exclusive; give one of them");
        }

        foreach (var key in (string[])["access", "rules", "deny_rules"])
        {
            if (!fields.Has(key))
            {
                continue;
            }

            if (protocol.Length == 0 && !fields.Has("protocol"))
            {
                fields.Diag.Error(fields.KeyNode(key)!, fields.PathOf(key), $"{key} needs protocol: rest or websocket, so requests can be inspected");
            }
            else if (tls == "skip")
            {
                fields.Diag.Error(fields.KeyNode(key)!, fields.PathOf(key), $"{key} cannot be enforced with tls: skip (the tunnel is not inspected)");
            }
        }
    }

    private static ImmutableArray<L7Rule> ReadRules(YamlFields fields, string key, bool allow)
    {
        var rules = ImmutableArray.CreateBuilder<L7Rule>();
        foreach (var (item, itemPath) in fields.Items(key))
        {
            var match = item;
            var matchPath = itemPath;
            if (allow)
            {
                if (YamlFields.Open(fields.Diag, item, itemPath, RuleKeys)?.Required("allow") is not { } allowNode)
                {
                    continue;
                }

                match = allowNode;
                matchPath = YamlValues.Join(itemPath, "allow");
            }

            if (ReadMatch(fields.Diag, match, matchPath, fields.Diag.At(item)) is { } rule)
            {
                rules.Add(rule);
            }
        }

        return rules.DrainToImmutable();
    }

    /// <summary>method (default any), path glob (default any) and query globs of one L7 rule.</summary>
    private static L7Rule? ReadMatch(PolicyDiagnostics diag, YamlNode node, string path, SourceLocation ruleLocation)
    {
        if (YamlFields.Open(diag, node, path, MatchKeys) is not { } fields)
        {
            return null;
        }

        var method = fields.Text("method")?.ToUpperInvariant() ?? "*";
        if (!PolicySyntax.IsMethod(method))
        {
            diag.Error(fields.Value("method")!, fields.PathOf("method"), $"{YamlValues.Quote(method)} is not an HTTP method; expected a token like GET or * for any");
        }

        var glob = fields.Text("path") ?? "/**";
        if (glob[0] != '/' && glob is not ("*" or "**"))
        {
            diag.Error(fields.Value("path")!, fields.PathOf("path"), $"{YamlValues.Quote(glob)} must start with /");
        }

        var query = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>();
        if (fields.Mapping("query", null) is { } queryFields)
        {
            foreach (var (keyNode, valueNode) in queryFields.Entries)
            {
                var name = keyNode.Value ?? "";
                var valuePath = queryFields.PathOf(name);
                if (valueNode is YamlMappingNode)
                {
                    diag.Error(valueNode, valuePath, "expanded query matchers ({ any: [...] }) are not supported yet; give one glob string");
                }
                else if (YamlValues.String(diag, valueNode, valuePath, "a glob string") is { } value)
                {
                    query.Add(new(name, value));
                }
            }
        }

        return new L7Rule(method, glob, query.DrainToImmutable(), ruleLocation);
    }

    private static BinaryRef? ReadBinary(PolicyDiagnostics diag, YamlNode node, string path)
    {
        if (YamlFields.Open(diag, node, path, BinaryKeys) is not { } fields)
        {
            return null;
        }

        string? binaryPath = null;
        if (fields.Required("path") is { } pathNode && YamlValues.String(diag, pathNode, fields.PathOf("path"), "an absolute path") is { } raw)
        {
            if (PolicySyntax.NormalizeAbsolutePath(raw, out var normalized) is { } error)
            {
                diag.Error(pathNode, fields.PathOf("path"), error);
            }
            else
            {
                binaryPath = normalized;
            }
        }

        var sha256 = fields.Text("sha256");
        if (sha256 is not null && !PolicySyntax.IsSha256(sha256))
        {
            diag.Error(fields.Value("sha256")!, fields.PathOf("sha256"), "expected 64 hexadecimal digits (a SHA-256 digest)");
            sha256 = null;
        }

        if (fields.Has("harness"))
        {
            fields.Bool("harness", false);
            diag.Warning(fields.KeyNode("harness")!, fields.PathOf("harness"), "harness is deprecated in OpenShell and ignored");
        }

        var inherit = fields.Bool("inherit", false);
        return binaryPath is null ? null : new BinaryRef(binaryPath, sha256?.ToLowerInvariant(), inherit, diag.At(fields.Node));
    }
}
