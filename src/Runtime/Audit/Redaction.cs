using System.Text.RegularExpressions;

namespace Sandboxrun.Audit;

/// <summary>Removes credentials from text before it is logged: key-shaped tokens, auth headers, query strings' secrets.</summary>
internal static partial class Redaction
{
    public const string Mask = Netns.Egress.Redaction.Marker;

    /// <summary>Where a word of a command line ends (<see cref="Argument"/>).</summary>
    private static readonly System.Buffers.SearchValues<char> s_wordEnds = System.Buffers.SearchValues.Create(" \t\n\r\f\v\"'`");

    // sk-..., ghp_/gho_/ghs_/ghu_/github_pat_..., xox[abp]-..., AKIA..., glpat-..., Bearer tokens, and
    // key=value pairs whose key names a secret.
    [GeneratedRegex(@"(sk-[A-Za-z0-9_\-]{8,}|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9\-]{8,}|AKIA[0-9A-Z]{16}|glpat-[A-Za-z0-9_\-]{16,}|(?i:bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,})")]
    private static partial Regex Tokens();

    [GeneratedRegex(@"(?i)((?:api[_-]?key|token|secret|password|passwd|auth|authorization|cookie|session|signature|sig|key)=)[^&\s""]+")]
    private static partial Regex SecretPairs();

    public static string Redact(string text)
    {
        if (text.Length == 0)
            return text;
        string masked = Tokens().Replace(text, Mask);
        return SecretPairs().Replace(masked, m => m.Groups[1].Value + Mask);
    }

    /// <summary>
    /// A command-line argument (or an <c>sh -c</c> script), as <c>sandbox.start</c> and
    /// <c>sandboxrun ps</c> show it: <see cref="Redact"/>, then word by word (words end at
    /// whitespace and quotes): a URL loses its user info and the credential-shaped path segments
    /// and query values the proxy masks in paths; any other credential-shaped word is masked whole.
    /// </summary>
    public static string Argument(string arg)
    {
        string masked = Redact(arg);
        if (!masked.AsSpan().ContainsAny(s_wordEnds))
            return Word(masked); // one word: a program path, a flag, a URL (every audit line's holders)
        var text = new System.Text.StringBuilder(masked.Length);
        int pos = 0;
        while (pos < masked.Length)
        {
            int end = masked.AsSpan(pos).IndexOfAny(s_wordEnds);
            end = end < 0 ? masked.Length : pos + end;
            if (end == pos)
            {
                text.Append(masked[pos++]);
                continue;
            }
            text.Append(Word(masked[pos..end]));
            pos = end;
        }
        return text.ToString();
    }

    private static string Word(string word)
    {
        int scheme = word.IndexOf("://", StringComparison.Ordinal);
        if (scheme <= 0)
            return Netns.Egress.Redaction.LooksLikeSecret(word) ? Mask : word;
        int authority = scheme + 3;
        int end = word.IndexOfAny(['/', '?'], authority);
        string host = end < 0 ? word[authority..] : word[authority..end];
        int at = host.LastIndexOf('@');
        if (at >= 0)
            host = Mask + host[at..];
        return word[..authority] + host + (end < 0 ? "" : Netns.Egress.Redaction.PathAndQuery(word[end..]));
    }
}
