namespace Sandboxrun.Netns.Egress;

/// <summary>
/// An endpoint's <c>host</c>, compiled. Exact names and IP literals compare canonical text.
/// Wildcards (OpenShell's host globs, which follow TLS certificate wildcards, RFC 6125 §6.4.3):
/// <list type="bullet">
/// <item><c>*</c> inside the first label matches within that label (<c>api-*.example.com</c>);
/// a whole-label <c>*</c> there matches exactly one label.</item>
/// <item><c>**</c> as the whole first label matches one or more labels, never none, so
/// <c>**.example.com</c> does not match <c>example.com</c>.</item>
/// <item><c>*</c> as a whole middle label matches exactly one label.</item>
/// </list>
/// Refused at compile time: <c>*</c> or <c>**</c> alone, <c>**</c> anywhere but the whole first
/// label, partial wildcards after the first label, fewer than two literal labels after the last
/// wildcard (it would cover a top-level domain), and wildcards over numeric labels (IP addresses
/// are matched only literally).
/// </summary>
internal sealed class HostPattern
{
    private readonly string[] _labels;

    // The first label is the only wildcard and it is a whole '*' or '**'.
    private readonly bool _plainSuffix;

    private HostPattern(string text, CanonicalHost? exact, string[] labels, string suffix)
    {
        Text = text;
        Exact = exact;
        _labels = labels;
        LiteralSuffix = suffix;
        _plainSuffix = labels.Length > 1 && (labels[0] is "*" or "**") && suffix.Length > 0 && labels.Length - 1 == suffix.Count('.') + 1;
    }

    /// <summary>The pattern in canonical spelling.</summary>
    public string Text { get; }

    /// <summary>Set for a pattern without wildcards (a name or an address).</summary>
    public CanonicalHost? Exact { get; }

    /// <summary>For wildcards: the literal labels after the last wildcard label, the index key.</summary>
    public string LiteralSuffix { get; }

    public bool IsWildcard => Exact is null;

    public static HostPattern? TryCreate(string raw, out string? error)
    {
        error = null;
        if (!raw.Contains('*', StringComparison.Ordinal))
        {
            if (!HostName.TryCanonicalize(raw, out var exact))
            {
                error = $"'{raw}' is not a valid host name or IP address";
                return null;
            }

            return new HostPattern(exact.Text, exact, [], "");
        }

        var text = raw.ToLowerInvariant();
        if (text.EndsWith('.'))
        {
            text = text[..^1];
        }

        var labels = text.Split('.');
        var lastWildcard = -1;
        for (var i = 0; i < labels.Length; i++)
        {
            var label = labels[i];
            if (label.Length == 0 || label.Length > HostName.MaxLabelLength)
            {
                error = $"'{raw}' has an empty or over-long label";
                return null;
            }

            if (label.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyz0123456789-_*"))
            {
                error = $"'{raw}' contains a character that is not allowed in a host name";
                return null;
            }

            if (!label.Contains('*', StringComparison.Ordinal))
            {
                continue;
            }

            lastWildcard = i;
            if (label.Contains("**", StringComparison.Ordinal) && (i != 0 || label != "**"))
            {
                error = $"'{raw}': '**' is only allowed as the whole first label";
                return null;
            }

            if (i > 0 && label != "*")
            {
                error = $"'{raw}': a wildcard after the first label must be a whole '*' label";
                return null;
            }
        }

        var literalCount = labels.Length - lastWildcard - 1;
        if (literalCount < 2)
        {
            error = $"'{raw}': a wildcard must be followed by at least two literal labels (it would cover a top-level domain)";
            return null;
        }

        // A top-level domain is never all-numeric (RFC 3696 §2), so such a pattern could only
        // ever match IPv4 text; addresses are matched literally or by allowed_ips.
        if (!labels[^1].AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            error = $"'{raw}': wildcards do not apply to IP addresses; list the address or use allowed_ips";
            return null;
        }

        var suffix = string.Join('.', labels, lastWildcard + 1, literalCount);
        return new HostPattern(text, null, labels, suffix);
    }

    /// <summary>Whether the canonical <paramref name="host"/> matches. Addresses match only exact patterns.</summary>
    public bool IsMatch(in CanonicalHost host)
    {
        if (Exact is { } exact)
        {
            return exact.Text == host.Text;
        }

        if (host.Kind != HostKind.Name)
        {
            return false;
        }

        ReadOnlySpan<char> name = host.Text;
        if (_plainSuffix)
        {
            // "*.suffix" or "**.suffix" with only literal labels after the first.
            var dot = name.Length - LiteralSuffix.Length - 1;
            if (dot <= 0 || name[dot] != '.' || !name.EndsWith(LiteralSuffix, StringComparison.Ordinal))
            {
                return false;
            }

            return _labels[0] == "**" || !name[..dot].Contains('.');
        }

        var hostLabels = name.Count('.') + 1;
        var first = _labels[0];
        int skip;
        if (first == "**")
        {
            // One or more leading labels: the host has at least as many labels as the pattern.
            if (hostLabels < _labels.Length)
            {
                return false;
            }

            skip = hostLabels - _labels.Length + 1;
        }
        else
        {
            if (hostLabels != _labels.Length)
            {
                return false;
            }

            var dot = name.IndexOf('.');
            if (first != "*" && !Glob.Match(first, name[..dot]))
            {
                return false;
            }

            skip = 1;
        }

        // Drop the labels the first pattern label consumed, then compare label by label.
        for (var i = 0; i < skip; i++)
        {
            name = name[(name.IndexOf('.') + 1)..];
        }

        for (var i = 1; i < _labels.Length; i++)
        {
            var dot = name.IndexOf('.');
            var label = dot < 0 ? name : name[..dot];
            if (_labels[i] != "*" && !label.SequenceEqual(_labels[i]))
            {
                return false;
            }

            name = dot < 0 ? [] : name[(dot + 1)..];
        }

        return true;
    }

    public override string ToString() => Text;
}
