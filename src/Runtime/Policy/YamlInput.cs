using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>
/// Turns policy text into one YAML node tree, or into errors. Untrusted text is first walked as a
/// flat event stream, because YamlStream builds its tree by recursion (deep nesting overflows the
/// stack, which no catch can stop) and expands aliases (nested aliases grow exponentially). The
/// pre-scan bounds depth and alias-expanded size, requires a single document and reports every
/// duplicate mapping key; only text that passes it is handed to YamlStream.
/// </summary>
internal static class YamlInput
{
    /// <summary>Deepest collection nesting accepted; the policy schema itself needs 9.</summary>
    public const int MaxDepth = 64;

    /// <summary>Most nodes the tree may hold once aliases are expanded.</summary>
    public const long MaxExpandedNodes = 1_000_000;

    public static YamlNode? Load(string text, PolicyDiagnostics diag)
    {
        if (!Prescan(text, diag))
        {
            return null;
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (Exception ex) when (IsParserFailure(ex))
        {
            ReportSyntax(diag, ex, Mark.Empty);
            return null;
        }

        if (stream.Documents.Count == 0)
        {
            diag.Error(new SourceLocation(diag.Source, 1, 1), "", "the document is empty; expected a mapping that starts with version: 1");
            return null;
        }

        return stream.Documents[0].RootNode;
    }

    /// <summary>
    /// YamlDotNet reports bad syntax as YamlException, but on some malformed input its scanner
    /// throws InvalidOperationException instead (found by PolicyLoaderFuzzTests).
    /// </summary>
    private static bool IsParserFailure(Exception ex) =>
        ex is YamlException or InvalidOperationException or ArgumentException or IndexOutOfRangeException or FormatException or OverflowException;

    /// <summary>Reports a parser failure at its own position, or else just after the last event read.</summary>
    private static void ReportSyntax(PolicyDiagnostics diag, Exception ex, Mark near)
    {
        var at = ex is YamlException yaml ? yaml.Start : near;
        var location = diag.At(at);
        if (location.Line < 1 || location.Column < 1)
        {
            location = location with { Line = Math.Max(1, location.Line), Column = Math.Max(1, location.Column) };
        }

        var message = ex is YamlException ? FirstLine(ex.Message) : "the text is not well-formed YAML";
        diag.Error(location, "", $"invalid YAML: {message}");
    }

    private sealed class Frame(bool isMapping, string path, AnchorName anchor, long startCount)
    {
        public bool IsMapping { get; } = isMapping;

        public string Path { get; } = path;

        public AnchorName Anchor { get; } = anchor;

        public long StartCount { get; } = startCount;

        public bool ExpectKey { get; set; } = true;

        public string? CurrentKey { get; set; }

        public int ItemCount { get; set; }

        public Dictionary<string, Mark>? Keys { get; set; }

        /// <summary>The field path of the node that starts next inside this collection.</summary>
        public string ChildPath() =>
            !IsMapping ? YamlValues.Index(Path, ItemCount) : ExpectKey ? Path : YamlValues.Join(Path, CurrentKey ?? "?");
    }

    /// <summary>False when the text must not be loaded; every reason has been reported.</summary>
    private static bool Prescan(string text, PolicyDiagnostics diag)
    {
        var parser = new Parser(new StringReader(text));
        var stack = new Stack<Frame>();
        var anchorSizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var documents = 0;
        long count = 0;
        var ok = true;

        var near = Mark.Empty;
        while (true)
        {
            try
            {
                if (!parser.MoveNext())
                {
                    break;
                }
            }
            catch (Exception ex) when (IsParserFailure(ex))
            {
                ReportSyntax(diag, ex, near);
                return false;
            }

            var current = parser.Current!;
            near = current.End;
            switch (current)
            {
                case DocumentStart when ++documents > 1:
                    diag.Error(diag.At(current.Start), "", "expected a single YAML document; remove the second '---' and what follows");
                    return false;

                case MappingStart or SequenceStart:
                    if (stack.Count >= MaxDepth)
                    {
                        diag.Error(diag.At(current.Start), "", $"nesting is deeper than {MaxDepth.ToString(CultureInfo.InvariantCulture)} levels");
                        return false;
                    }

                    var path = stack.TryPeek(out var parent) ? parent.ChildPath() : "";
                    stack.Push(new Frame(current is MappingStart, path, ((NodeEvent)current).Anchor, count));
                    count++;
                    break;

                case MappingEnd or SequenceEnd:
                    var frame = stack.Pop();
                    if (!frame.Anchor.IsEmpty)
                    {
                        anchorSizes[frame.Anchor.Value] = count - frame.StartCount;
                    }

                    ok &= NodeDone(stack, null, current, diag);
                    break;

                case Scalar scalar:
                    count++;
                    if (!scalar.Anchor.IsEmpty)
                    {
                        anchorSizes[scalar.Anchor.Value] = 1;
                    }

                    ok &= NodeDone(stack, scalar, current, diag);
                    break;

                case AnchorAlias alias:
                    // YamlStream binds an alias to the latest node with that anchor, even one still
                    // open, which would make the tree cyclic.
                    if (stack.Any(f => f.Anchor == alias.Value))
                    {
                        diag.Error(diag.At(current.Start), "", $"alias *{alias.Value.Value} is inside the node it refers to");
                        return false;
                    }

                    if (!anchorSizes.TryGetValue(alias.Value.Value, out var size))
                    {
                        diag.Error(diag.At(current.Start), "", $"alias *{alias.Value.Value} refers to no anchor defined before it");
                        return false;
                    }

                    count += size;
                    ok &= NodeDone(stack, null, current, diag);
                    break;
            }

            if (count > MaxExpandedNodes)
            {
                diag.Error(diag.At(current.Start), "", $"the document has more than {MaxExpandedNodes.ToString(CultureInfo.InvariantCulture)} nodes once aliases are expanded");
                return false;
            }
        }

        return ok;
    }

    /// <summary>Records a finished node in its parent mapping; false when it was a duplicate key.</summary>
    private static bool NodeDone(Stack<Frame> stack, Scalar? scalar, ParsingEvent node, PolicyDiagnostics diag)
    {
        if (!stack.TryPeek(out var parent))
        {
            return true;
        }

        if (!parent.IsMapping)
        {
            parent.ItemCount++;
            return true;
        }

        var isKey = parent.ExpectKey;
        parent.ExpectKey = !isKey;
        if (!isKey)
        {
            return true;
        }

        parent.CurrentKey = scalar?.Value ?? "?";
        if (scalar is null)
        {
            return true;
        }

        parent.Keys ??= new Dictionary<string, Mark>(StringComparer.Ordinal);
        if (parent.Keys.TryAdd(scalar.Value, node.Start))
        {
            return true;
        }

        var first = diag.At(parent.Keys[scalar.Value]);
        diag.Error(diag.At(node.Start), YamlValues.Join(parent.Path, scalar.Value), $"duplicate key {YamlValues.Quote(scalar.Value)} (first at line {first.Line.ToString(CultureInfo.InvariantCulture)}, column {first.Column.ToString(CultureInfo.InvariantCulture)})");
        return false;
    }

    private static string FirstLine(string message)
    {
        var end = message.AsSpan().IndexOfAny('\r', '\n');
        return (end < 0 ? message : message[..end]).TrimEnd('.');
    }
}
