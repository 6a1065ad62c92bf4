using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sandboxrun.Audit;
using Sandboxrun.Netns.Egress;
using Sandboxrun.Policy;
using Sandboxrun.Proxy;

namespace Sandboxrun.Control;

/// <summary>
/// The supervisor's side of the control socket: what `ps` shows, and the policy in force, which
/// `policy apply` replaces. A reload is all or nothing: the new text is loaded and validated, its
/// static sections compared with the running ones, its network policies compiled, and only then
/// swapped into the proxy; any error leaves everything as it was and says why.
/// </summary>
internal sealed class LiveSandbox(string name, ImmutableArray<string> command, string policyText, string policySource, AuditLog? audit)
{
    private readonly Lock _lock = new();
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private string _text = policyText;
    private string _source = policySource;
    private long _generation = 1;

    public int Pid { get; set; }

    /// <summary>Null when the sandbox has no network policies (no proxy: nothing to reload into).</summary>
    public EgressServer? Proxy { get; set; }

    public Action<Utf8JsonWriter> Handle(JsonElement request) => request.Text("op") switch
    {
        "status" => Status,
        "policy.get" => PolicyGet,
        "policy.apply" => Apply(request.Text("source"), request.Text("text")),
        var op => ControlServer.Error($"unknown operation '{op}'"),
    };

    private void Status(Utf8JsonWriter w)
    {
        EgressServer? proxy = Proxy;
        w.WriteBoolean("ok", true);
        w.WriteString("name", name);
        w.WriteNumber("pid", Pid);
        w.WriteStartArray("command");
        foreach (string a in command)
            w.WriteStringValue(Audit.Redaction.Argument(a));
        w.WriteEndArray();
        lock (_lock)
        {
            w.WriteString("policy", _source);
            w.WriteNumber("generation", _generation);
        }
        w.WriteString("started", _started.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        w.WriteNumber("uptime_s", (long)(DateTimeOffset.UtcNow - _started).TotalSeconds);
        w.WriteBoolean("proxy", proxy is not null);
        w.WriteNumber("allowed", proxy?.Allowed ?? 0);
        w.WriteNumber("denied", proxy?.Denied ?? 0);
        w.WriteNumber("open_connections", proxy?.OpenConnections ?? 0);
    }

    private void PolicyGet(Utf8JsonWriter w)
    {
        lock (_lock)
        {
            w.WriteBoolean("ok", true);
            w.WriteString("source", _source);
            w.WriteNumber("generation", _generation);
            w.WriteString("text", _text);
        }
    }

    private Action<Utf8JsonWriter> Apply(string source, string text)
    {
        if (source.Length == 0)
            source = "<policy apply>";
        lock (_lock)
        {
            PolicyLoadResult loaded = PolicyLoader.Parse(text, source);
            if (!loaded.Ok)
                return Refused(source, [.. loaded.Errors.Select(e => e.ToString())]);
            ImmutableArray<string> changed = PolicyReload.ChangedStaticSections(_text, text);
            if (!changed.IsEmpty)
            {
                return Refused(source, [$"{source}: {string.Join(", ", changed)} cannot change while the sandbox runs "
                    + $"(only {string.Join(" and ", PolicyReload.DynamicSections)} can); restart the sandbox to change them"]);
            }
            SandboxPolicy policy = loaded.Policy!;
            EgressServer? proxy = Proxy;
            if (proxy is null && !policy.NetworkPolicies.IsEmpty)
            {
                return Refused(source, [$"{source}: network_policies: this sandbox started without network policies, so it has no egress proxy "
                    + "to apply them to; restart it with a policy that has a network_policies section (one that allows nothing is enough)"]);
            }
            EgressCompileResult compiled = EgressPolicyAdapter.Compile(policy, _generation + 1);
            if (!compiled.Ok)
                return Refused(source, [.. compiled.Errors.Select(e => $"{source}: network_policies: {e}")]);

            _generation++;
            int revoked = proxy?.Swap(compiled.Policy!) ?? 0;
            _text = text;
            _source = source;
            long generation = _generation;
            audit?.Write("policy.reload", ("policy", source), ("generation", generation), ("revoked", revoked),
                ("sha256", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))));
            ImmutableArray<string> warnings = [.. loaded.Warnings.Select(e => e.ToString()), .. compiled.Warnings.Select(e => $"{source}: network_policies: {e}")];
            return w =>
            {
                w.WriteBoolean("ok", true);
                w.WriteNumber("generation", generation);
                w.WriteNumber("revoked", revoked);
                w.WriteStartArray("warnings");
                foreach (string warning in warnings)
                    w.WriteStringValue(warning);
                w.WriteEndArray();
            };
        }
    }

    private Action<Utf8JsonWriter> Refused(string source, ImmutableArray<string> errors)
    {
        audit?.Write("policy.reload_refused", ("policy", source), ("errors", errors));
        return w =>
        {
            w.WriteBoolean("ok", false);
            w.WriteString("error", "the policy was not applied; nothing changed");
            w.WriteStartArray("errors");
            foreach (string e in errors)
                w.WriteStringValue(e);
            w.WriteEndArray();
        };
    }
}
