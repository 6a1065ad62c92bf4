using System.Collections.Immutable;
using System.Security.Cryptography;
using Sandboxrun.Netns.Egress;
using Sandboxrun.Policy;

namespace Sandboxrun.Proxy;

/// <summary>The policy's network_policies as the egress engine's input, compiled with hashes fixed at load.</summary>
internal static class EgressPolicyAdapter
{
    public static EgressCompileResult Compile(SandboxPolicy policy, long generation) =>
        CompiledEgressPolicy.Compile(policy.NetworkPolicies.Select(Spec), HashAtLoad, generation);

    private static EgressPolicySpec Spec(NetworkPolicy p) => new(
        p.Name,
        [.. p.Endpoints.Select(e => new EgressEndpointSpec(e.Host, e.Ports)
        {
            Path = e.Path,
            Protocol = e.Protocol switch { "rest" => EgressProtocol.Rest, "websocket" => EgressProtocol.WebSocket, _ => EgressProtocol.None },
            Tls = e.Tls switch { "skip" => EgressTls.Skip, "terminate" => EgressTls.Terminate, _ => EgressTls.Default },
            Enforcement = e.Enforcement == Enforcement.Audit ? EgressEnforcement.Audit : EgressEnforcement.Enforce,
            Access = e.Access switch { "read-only" => EgressAccess.ReadOnly, "read-write" => EgressAccess.ReadWrite, "full" => EgressAccess.Full, _ => null },
            Rules = [.. e.Rules.Select(Rule)],
            DenyRules = [.. e.DenyRules.Select(Rule)],
            AllowedIps = e.AllowedIps,
            AllowEncodedSlash = e.AllowEncodedSlash,
        })],
        [.. p.Binaries.Select(b => new EgressBinarySpec(Resolve(b.Path)) { Sha256 = b.Sha256, Inherit = b.Inherit })]);

    /// <summary>
    /// /proc/PID/exe names the file after every link is resolved (/usr/bin/python3 runs as
    /// /usr/bin/python3.11, /bin/sh as /usr/bin/dash), so a literal binary path is resolved the same way.
    /// </summary>
    private static string Resolve(string path) =>
        path.Contains('*', StringComparison.Ordinal) ? path : Interop.Interop.Files.RealPath(path) ?? path;

    private static EgressRuleSpec Rule(Policy.L7Rule r) => new(r.Method, r.Path) { Query = r.Query };

    /// <summary>Trust on first use: the SHA-256 of the file a binary entry names, when the policy loads.</summary>
    private static string? HashAtLoad(string path)
    {
        try
        {
            using FileStream f = File.OpenRead(path);
            return Convert.ToHexStringLower(SHA256.HashData(f));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
