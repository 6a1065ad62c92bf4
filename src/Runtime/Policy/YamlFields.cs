using System.Collections.Immutable;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>
/// One YAML mapping read against the keys its schema section allows. Unknown keys and
/// non-scalar keys are reported when the mapping is opened; a key whose value is an explicit
/// null reads as absent. Duplicate keys never reach here (YamlInput rejects them).
/// </summary>
internal sealed class YamlFields
{
    private readonly Dictionary<string, KeyValuePair<YamlScalarNode, YamlNode>> byKey = new(StringComparer.Ordinal);

    private YamlFields(PolicyDiagnostics diag, YamlMappingNode node, string path)
    {
        Diag = diag;
        Node = node;
        Path = path;
    }

    public PolicyDiagnostics Diag { get; }

    public YamlMappingNode Node { get; }

    public string Path { get; }

    /// <summary>Every entry with a scalar key, in file order, null values included.</summary>
    public ImmutableArray<KeyValuePair<YamlScalarNode, YamlNode>> Entries { get; private set; }

    /// <summary>
    /// Opens a mapping whose keys must be among <paramref name="allowed"/> (any key when it is null);
    /// null, with an error reported, when the node is not a mapping.
    /// </summary>
    public static YamlFields? Open(PolicyDiagnostics diag, YamlNode node, string path, string[]? allowed)
    {
        if (node is not YamlMappingNode mapping)
        {
            diag.Error(node, path, $"expected a mapping, got {YamlValues.Describe(node)}");
            return null;
        }

        var fields = new YamlFields(diag, mapping, path);
        var entries = ImmutableArray.CreateBuilder<KeyValuePair<YamlScalarNode, YamlNode>>(mapping.Children.Count);
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode key || YamlValues.IsNull(keyNode))
            {
                diag.Error(keyNode, path, $"expected a scalar key, got {YamlValues.Describe(keyNode)}");
                continue;
            }

            var name = key.Value ?? "";
            if (allowed is not null && Array.IndexOf(allowed, name) < 0)
            {
                diag.Error(key, YamlValues.Join(path, name), $"unknown key {YamlValues.Quote(name)}; allowed keys: {string.Join(", ", allowed)}");
                continue;
            }

            fields.byKey[name] = new(key, value);
            entries.Add(new(key, value));
        }

        fields.Entries = entries.DrainToImmutable();
        return fields;
    }

    public string PathOf(string key) => YamlValues.Join(Path, key);

    /// <summary>The value under <paramref name="key"/>, or null when absent or explicitly null.</summary>
    public YamlNode? Value(string key) =>
        byKey.TryGetValue(key, out var entry) && !YamlValues.IsNull(entry.Value) ? entry.Value : null;

    public bool Has(string key) => Value(key) is not null;

    /// <summary>The key node itself, for errors about the key's presence rather than its value.</summary>
    public YamlScalarNode? KeyNode(string key) => byKey.TryGetValue(key, out var entry) ? entry.Key : null;

    public void ReportMissing(string key) => Diag.Error(Node, PathOf(key), $"required key {YamlValues.Quote(key)} is missing");

    public YamlNode? Required(string key)
    {
        var value = Value(key);
        if (value is null && byKey.TryGetValue(key, out var entry))
        {
            Diag.Error(entry.Value, PathOf(key), "expected a value, got null");
        }
        else if (value is null)
        {
            ReportMissing(key);
        }

        return value;
    }

    public string? String(string key) => Value(key) is { } node ? YamlValues.String(Diag, node, PathOf(key)) : null;

    public string? Text(string key) => Value(key) is { } node ? YamlValues.Text(Diag, node, PathOf(key)) : null;

    public string? RequiredText(string key) => Required(key) is { } node ? YamlValues.Text(Diag, node, PathOf(key)) : null;

    public bool Bool(string key, bool fallback) =>
        Value(key) is { } node ? YamlValues.Bool(Diag, node, PathOf(key)) ?? fallback : fallback;

    public long? Integer(string key, long min, long max) =>
        Value(key) is { } node ? YamlValues.Integer(Diag, node, PathOf(key), min, max) : null;

    /// <summary>One of <paramref name="choices"/> (exact spelling), or null when absent or invalid.</summary>
    public string? Choice(string key, string[] choices)
    {
        var node = Value(key);
        var text = node is null ? null : YamlValues.String(Diag, node, PathOf(key));
        if (node is null || text is null)
        {
            return null;
        }

        if (Array.IndexOf(choices, text) < 0)
        {
            Diag.Error(node, PathOf(key), $"expected one of {string.Join(", ", choices)}; got {YamlValues.Quote(text)}");
            return null;
        }

        return text;
    }

    public YamlFields? Mapping(string key, string[]? allowed) =>
        Value(key) is { } node ? Open(Diag, node, PathOf(key), allowed) : null;

    /// <summary>The items of the sequence under <paramref name="key"/> with their paths; empty when absent or not a sequence.</summary>
    public IEnumerable<(YamlNode Node, string Path)> Items(string key)
    {
        var node = Value(key);
        if (node is null)
        {
            return [];
        }

        if (node is not YamlSequenceNode sequence)
        {
            Diag.Error(node, PathOf(key), $"expected a sequence, got {YamlValues.Describe(node)}");
            return [];
        }

        var path = PathOf(key);
        return sequence.Children.Select((item, i) => (item, YamlValues.Index(path, i)));
    }
}
