using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Sandboxrun.Netns.Egress;

/// <summary>
/// A compiled allow or deny rule: method, path glob over the normalised path, and query globs.
/// Method semantics follow OpenShell: <c>*</c> is any method, otherwise an exact, case-sensitive
/// match (RFC 9110 §9.1), and a GET rule also allows HEAD (RFC 9110 §9.3.2: HEAD is GET without
/// the content).
/// </summary>
internal sealed class L7Rule
{
    public L7Rule(string method, PathGlob path, (string Key, string Glob)[] query, string label)
    {
        Method = method;
        Path = path;
        Query = query;
        Label = label;
        var text = new StringBuilder().Append(method).Append(' ').Append(path.Text);
        var separator = " ?";
        foreach (var (key, glob) in query)
        {
            text.Append(separator).Append(key).Append('=').Append(glob);
            separator = "&";
        }

        Description = text.ToString();
        AllowDetail = "allow " + Description;
    }

    public string Method { get; }

    public PathGlob Path { get; }

    public (string Key, string Glob)[] Query { get; }

    /// <summary><c>endpoints[0].rules[1]</c>.</summary>
    public string Label { get; }

    /// <summary><c>GET /repos/** ?per_page=1*</c>.</summary>
    public string Description { get; }

    /// <summary><c>allow GET /repos/**</c>, the detail of a decision this rule allowed.</summary>
    public string AllowDetail { get; }

    public static bool MethodMatches(string pattern, string method) =>
        pattern == "*" || pattern == method || (pattern == "GET" && method == "HEAD");

    public bool Matches(string method, string path, ref QueryView query, bool deny) =>
        MethodMatches(Method, method) && Path.IsMatch(path) && (Query.Length == 0 || (deny ? query.DenyMatches(Query) : query.AllowMatches(Query)));
}

/// <summary>
/// The request's query decoded on first use as application/x-www-form-urlencoded ('+' is a space,
/// %XX an octet, UTF-8 text). Allow rules need every configured key present with every value
/// matching; deny rules fire when every configured key is present with at least one matching
/// value (OpenShell's semantics). A query that cannot be decoded fails allow rules and triggers
/// deny rules, so an undecodable value is never the reason something passes.
/// </summary>
internal struct QueryView
{
    private readonly string? _raw;
    private List<(string Key, string Value)>? _pairs;
    private bool _parsed;
    private bool _valid;

    public QueryView(string? raw)
    {
        _raw = raw;
    }

    public bool AllowMatches((string Key, string Glob)[] rules)
    {
        if (!Parse())
        {
            return false;
        }

        foreach (var (key, glob) in rules)
        {
            var seen = false;
            foreach (var (k, v) in _pairs!)
            {
                if (k != key)
                {
                    continue;
                }

                seen = true;
                if (!Glob.Match(glob, v))
                {
                    return false;
                }
            }

            if (!seen)
            {
                return false;
            }
        }

        return true;
    }

    public bool DenyMatches((string Key, string Glob)[] rules)
    {
        if (!Parse())
        {
            return true;
        }

        foreach (var (key, glob) in rules)
        {
            var hit = false;
            foreach (var (k, v) in _pairs!)
            {
                if (k == key && Glob.Match(glob, v))
                {
                    hit = true;
                    break;
                }
            }

            if (!hit)
            {
                return false;
            }
        }

        return true;
    }

    private bool Parse()
    {
        if (_parsed)
        {
            return _valid;
        }

        _parsed = true;
        _pairs = [];
        if (string.IsNullOrEmpty(_raw))
        {
            return _valid = true;
        }

        foreach (var range in _raw.AsSpan().Split('&'))
        {
            var pair = _raw.AsSpan()[range];
            if (pair.IsEmpty)
            {
                continue;
            }

            var eq = pair.IndexOf('=');
            var key = eq < 0 ? pair : pair[..eq];
            var value = eq < 0 ? [] : pair[(eq + 1)..];
            if (Decode(key) is not { } k || Decode(value) is not { } v)
            {
                return _valid = false;
            }

            _pairs.Add((k, v));
        }

        return _valid = true;
    }

    private static string? Decode(ReadOnlySpan<char> text)
    {
        if (text.IndexOfAny('%', '+') < 0)
        {
            return text.ContainsAnyExceptInRange((char)0x21, (char)0x7E) ? null : text.ToString();
        }

        var bytes = new byte[text.Length];
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '+')
            {
                bytes[n++] = (byte)' ';
            }
            else if (c == '%')
            {
                if (i + 2 >= text.Length || !byte.TryParse(text.Slice(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
                {
                    return null;
                }

                bytes[n++] = b;
                i += 2;
            }
            else if (c is < (char)0x21 or > (char)0x7E)
            {
                return null;
            }
            else
            {
                bytes[n++] = (byte)c;
            }
        }

        return Utf8.IsValid(bytes.AsSpan(0, n)) ? Encoding.UTF8.GetString(bytes, 0, n) : null;
    }
}
