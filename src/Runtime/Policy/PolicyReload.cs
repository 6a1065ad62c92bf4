using System.Collections.Immutable;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>
/// What a policy reload may change. The network and inference sections are dynamic: the proxy
/// swaps them while the agent runs. The others are fixed when the sandbox starts (mounts, Landlock
/// and seccomp are applied once and cannot be loosened or tightened from outside), so a new policy
/// must keep them as they are; they are compared by meaning (key order, flow or block style and
/// comments do not count), and an absent section differs from a written-out default one.
/// </summary>
public static class PolicyReload
{
    public static readonly ImmutableArray<string> StaticSections = ["version", "filesystem_policy", "landlock", "process"];

    public static readonly ImmutableArray<string> DynamicSections = ["network_policies", "inference"];

    /// <summary>The static sections whose content differs between two valid policy texts.</summary>
    public static ImmutableArray<string> ChangedStaticSections(string running, string proposed)
    {
        ArgumentNullException.ThrowIfNull(running);
        ArgumentNullException.ThrowIfNull(proposed);
        YamlMappingNode? a = Root(running);
        YamlMappingNode? b = Root(proposed);
        return [.. StaticSections.Where(s => Canonical(Section(a, s)) != Canonical(Section(b, s)))];
    }

    private static YamlMappingNode? Root(string text) =>
        YamlInput.Load(text.TrimStart('\uFEFF'), new PolicyDiagnostics("<reload>")) as YamlMappingNode;

    private static YamlNode? Section(YamlMappingNode? root, string key)
    {
        if (root is null)
            return null;
        foreach (KeyValuePair<YamlNode, YamlNode> entry in root.Children)
        {
            if (entry.Key is YamlScalarNode { Value: { } name } && name == key)
                return entry.Value;
        }
        return null;
    }

    /// <summary>A text that two nodes share exactly when they mean the same: mappings sorted by key, scalars quoted.</summary>
    internal static string Canonical(YamlNode? node)
    {
        var text = new StringBuilder();
        Write(node, text);
        return text.ToString();

        static void Write(YamlNode? node, StringBuilder text)
        {
            switch (node)
            {
                case null:
                    text.Append('~');
                    break;
                case YamlScalarNode scalar:
                    text.Append('"').Append(scalar.Value?.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
                    break;
                case YamlSequenceNode sequence:
                    text.Append('[');
                    foreach (YamlNode item in sequence.Children)
                    {
                        Write(item, text);
                        text.Append(',');
                    }
                    text.Append(']');
                    break;
                case YamlMappingNode mapping:
                    text.Append('{');
                    foreach (KeyValuePair<YamlNode, YamlNode> entry in mapping.Children.OrderBy(e => (e.Key as YamlScalarNode)?.Value, StringComparer.Ordinal))
                    {
                        Write(entry.Key, text);
                        text.Append(':');
                        Write(entry.Value, text);
                        text.Append(',');
                    }
                    text.Append('}');
                    break;
                default:
                    text.Append('?');
                    break;
            }
        }
    }
}
