using System.Text;

namespace Sandboxrun.Netns.Egress;

/// <summary>
/// Keeps secrets out of 403 bodies and audit lines: a 403 body never shows the query, and a path
/// segment or query value that looks like a credential (a known token prefix, or a long run of
/// mixed letters and digits) is replaced by <see cref="Marker"/>. UUIDs are kept; they name
/// resources, not secrets.
/// </summary>
internal static class Redaction
{
    public const string Marker = "[redacted]";

    private static readonly string[] TokenPrefixes =
    [
        "sk-", "sk_", "rk_", "pk_live_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-",
        "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-", "AKIA", "ASIA", "AIza", "ya29.", "eyJ",
        "hf_", "npm_", "pypi-", "dop_v1_", "shpat_",
    ];

    /// <summary>The path with credential-shaped segments replaced; the query is never part of it.</summary>
    public static string Path(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "";
        }

        var question = path.IndexOf('?', StringComparison.Ordinal);
        return Mask(question >= 0 ? path[..question] : path, '/', values: false);
    }

    /// <summary>
    /// The path and its query with credential-shaped segments and query values replaced: a URL in
    /// a command line the audit log records (its own redactor also masks values whose key names a secret).
    /// </summary>
    public static string PathAndQuery(string path)
    {
        var question = path.IndexOf('?', StringComparison.Ordinal);
        return question < 0
            ? Mask(path, '/', values: false)
            : Mask(path[..question], '/', values: false) + "?" + Mask(path[(question + 1)..], '&', values: true);
    }

    /// <summary>
    /// <paramref name="text"/> with every credential-shaped part between separators replaced; with
    /// <paramref name="values"/>, parts are <c>key=value</c> pairs and only a value is judged and replaced.
    /// </summary>
    private static string Mask(string text, char separator, bool values)
    {
        StringBuilder? redacted = null;
        var start = 0;
        foreach (var range in text.AsSpan().Split(separator))
        {
            var part = text.AsSpan()[range];
            var from = values ? part.IndexOf('=') + 1 : 0;
            if ((!values || from > 0) && LooksLikeSecret(part[from..]))
            {
                redacted ??= new StringBuilder(text.Length);
                redacted.Append(text.AsSpan(start, range.Start.Value + from - start)).Append(Marker);
                start = range.End.Value;
            }
        }

        return redacted is null ? text : redacted.Append(text.AsSpan(start)).ToString();
    }

    public static bool LooksLikeSecret(ReadOnlySpan<char> value)
    {
        if (value.Length < 16)
        {
            return false;
        }

        foreach (var prefix in TokenPrefixes)
        {
            if (value.StartsWith(prefix, StringComparison.Ordinal) && value.Length >= prefix.Length + 12)
            {
                return true;
            }
        }

        // Telegram-style "bot<digits>:<secret>".
        if (value.StartsWith("bot", StringComparison.Ordinal) && value.Contains(':'))
        {
            return true;
        }

        if (value.Length < 32 || IsUuid(value))
        {
            return false;
        }

        var letters = 0;
        var digits = 0;
        foreach (var c in value)
        {
            if (char.IsAsciiLetter(c))
            {
                letters++;
            }
            else if (char.IsAsciiDigit(c))
            {
                digits++;
            }
            else if (c is not ('-' or '_' or '.' or '=' or '+' or '%' or '~'))
            {
                return false;
            }
        }

        return letters > 0 && digits > 0;
    }

    private static bool IsUuid(ReadOnlySpan<char> value) =>
        value.Length == 36 && value[8] == '-' && value[13] == '-' && value[18] == '-' && value[23] == '-'
        && Guid.TryParseExact(value, "D", out _);
}
