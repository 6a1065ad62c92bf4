using System.Numerics;

namespace Sandboxrun.Netns.Egress;

/// <summary>
/// Wildcard matching shared by host labels, path segments and query values: <c>*</c> matches any
/// run of characters (possibly empty) and every other character matches itself, ordinally.
/// There is no <c>?</c> or character class; a pattern without <c>*</c> is an exact comparison.
/// </summary>
internal static class Glob
{
    /// <summary>Iterative star matching with one backtrack point: O(|pattern| * |text|) worst case.</summary>
    public static bool Match(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starT = t;
            }
            else if (p < pattern.Length && pattern[p] == text[t])
            {
                p++;
                t++;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                t = ++starT;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}

/// <summary>
/// A '/'-separated glob over a normalised absolute path: a segment <c>*</c> matches exactly one
/// segment, <c>**</c> matches zero or more whole segments, a segment containing <c>*</c> matches
/// within one segment, and any other segment matches itself exactly (paths are case-sensitive,
/// RFC 3986 §6.2.2.1). A trailing '/' is an empty last segment, which <c>*</c> also matches.
/// </summary>
internal sealed class PathGlob
{
    private enum Kind : byte
    {
        Literal,
        Star,
        DoubleStar,
        Pattern,
    }

    private enum Shape : byte
    {
        General,
        Exact,
        Subtree,
    }

    private readonly Kind[] _kinds;
    private readonly string[] _segments;
    private readonly Shape _shape;
    private readonly string _prefix = "";
    private readonly ulong _doubleStarStates;

    // The literal segments before the first wildcard, with their slashes: a quick refusal.
    private readonly string _literalHead;

    private PathGlob(string text, Kind[] kinds, string[] segments)
    {
        Text = text;
        _kinds = kinds;
        _segments = segments;
        var literals = 0;
        var literalChars = 0;
        var doubleStars = 0;
        for (var i = 0; i < kinds.Length; i++)
        {
            switch (kinds[i])
            {
                case Kind.Literal:
                    literals++;
                    literalChars += segments[i].Length;
                    break;
                case Kind.Pattern:
                    literalChars += segments[i].Length - segments[i].AsSpan().Count('*');
                    break;
                case Kind.DoubleStar:
                    doubleStars++;
                    break;
                case Kind.Star:
                    break;
            }
        }

        // Shapes that need no state walk: only literal segments (an exact path), or literal
        // segments followed by one trailing '**' (a subtree, the most common rule).
        var allLiteralBefore = Array.IndexOf(kinds, Kind.Star) < 0 && Array.IndexOf(kinds, Kind.Pattern) < 0;
        if (allLiteralBefore && doubleStars == 0)
        {
            _shape = Shape.Exact;
        }
        else if (allLiteralBefore && doubleStars == 1 && kinds[^1] == Kind.DoubleStar && kinds.Length > 1)
        {
            _shape = Shape.Subtree;
            _prefix = "/" + string.Join('/', segments, 0, kinds.Length - 1);
        }

        // A literal is followed by '/' in every matching path only when something after it must
        // consume a segment (not only '**', which may consume none).
        var lastConsuming = Array.FindLastIndex(kinds, k => k != Kind.DoubleStar);
        var head = new System.Text.StringBuilder("/");
        for (var i = 0; i < lastConsuming && kinds[i] == Kind.Literal; i++)
        {
            head.Append(segments[i]).Append('/');
        }

        _literalHead = head.ToString();
        for (var i = 0; i < kinds.Length; i++)
        {
            _doubleStarStates |= kinds[i] == Kind.DoubleStar ? 1UL << i : 0;
        }

        // Most specific first: more literal segments, then no '**', then more segments, then more
        // literal characters. Each field is bounded well below its bit width (paths <= 8 KiB).
        Specificity = ((long)literals << 48) | ((long)(doubleStars == 0 ? 1 : 0) << 47)
            | ((long)Math.Min(kinds.Length, 0x7FFF) << 32) | (uint)literalChars;
    }

    /// <summary>States are bits of a 64-bit word: one per segment plus the accepting state.</summary>
    public const int MaxSegments = 63;

    /// <summary>The glob as written (after normalisation).</summary>
    public string Text { get; }

    /// <summary>Larger is more specific; used to pick the endpoint whose <c>path</c> fits best.</summary>
    public long Specificity { get; }

    /// <summary>True when the glob matches every path (<c>/**</c>).</summary>
    public bool MatchesEverything => _kinds is [Kind.DoubleStar];

    /// <summary>
    /// Compiles an absolute glob. <c>**</c> and <c>*</c> alone (without the leading '/') mean
    /// <c>/**</c> and <c>/*</c>, as OpenShell's rules write them. '**' inside a segment is refused.
    /// </summary>
    public static PathGlob? TryCreate(string text, out string? error)
    {
        error = null;
        var source = text switch
        {
            "**" => "/**",
            "*" => "/*",
            _ => text,
        };
        if (source.Length == 0 || source[0] != '/')
        {
            error = $"'{text}' must start with /";
            return null;
        }

        var parts = CollapseDoubleStars(source[1..].Split('/'));
        if (parts.Length > MaxSegments)
        {
            error = $"'{text}' has more than {MaxSegments} segments";
            return null;
        }

        var kinds = new Kind[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (part == "**")
            {
                kinds[i] = Kind.DoubleStar;
            }
            else if (part == "*")
            {
                kinds[i] = Kind.Star;
            }
            else if (part.Contains("**", StringComparison.Ordinal))
            {
                error = $"'{text}': '**' must be a whole path segment";
                return null;
            }
            else
            {
                kinds[i] = part.Contains('*', StringComparison.Ordinal) ? Kind.Pattern : Kind.Literal;
            }
        }

        return new PathGlob(source, kinds, parts);
    }

    /// <summary>'**/**' matches exactly what '**' matches.</summary>
    private static string[] CollapseDoubleStars(string[] parts)
    {
        var kept = new List<string>(parts.Length);
        foreach (var part in parts)
        {
            if (part != "**" || kept.Count == 0 || kept[^1] != "**")
            {
                kept.Add(part);
            }
        }

        return [.. kept];
    }

    public bool IsMatch(ReadOnlySpan<char> path) => IsMatch(path, useShape: true);

    /// <param name="useShape">False only in tests, which check the shortcuts against the state walk.</param>
    internal bool IsMatch(ReadOnlySpan<char> path, bool useShape)
    {
        if (path.IsEmpty || path[0] != '/')
        {
            return false;
        }

        switch (useShape ? _shape : Shape.General)
        {
            case Shape.Exact:
                return path.SequenceEqual(Text);
            case Shape.Subtree:
                return path.StartsWith(_prefix, StringComparison.Ordinal) && (path.Length == _prefix.Length || path[_prefix.Length] == '/');
            case Shape.General:
                break;
        }

        if (MatchesEverything)
        {
            return true;
        }

        // A set-of-states walk over the segments (Thompson NFA), states as bits of one word:
        // O(segments * glob length) whatever the path, so several '**' cannot be made to
        // backtrack exponentially by a crafted path. State g means "glob[..g] matched so far".
        if (!path.StartsWith(_literalHead, StringComparison.Ordinal))
        {
            return false;
        }

        var current = Close(1UL);
        var accept = 1UL << _kinds.Length;
        var rest = path[1..];
        while (true)
        {
            var slash = rest.IndexOf('/');
            var segment = slash < 0 ? rest : rest[..slash];
            var next = 0UL;
            for (var active = current & ~accept; active != 0; active &= active - 1)
            {
                var g = BitOperations.TrailingZeroCount(active);
                var advance = _kinds[g] switch
                {
                    Kind.DoubleStar => 0,
                    Kind.Star => 1,
                    Kind.Literal => segment.SequenceEqual(_segments[g]) ? 1 : -1,
                    Kind.Pattern => Glob.Match(_segments[g], segment) ? 1 : -1,
                    _ => -1,
                };
                if (advance >= 0)
                {
                    next |= 1UL << (g + advance);
                }
            }

            if (next == 0)
            {
                return false;
            }

            current = Close(next);
            if (slash < 0)
            {
                return (current & accept) != 0;
            }

            rest = rest[(slash + 1)..];
        }
    }

    /// <summary>'**' also matches zero segments: a state before it implies the state after it (no two '**' are adjacent).</summary>
    private ulong Close(ulong states) => states | ((states & _doubleStarStates) << 1);

    public override string ToString() => Text;
}
