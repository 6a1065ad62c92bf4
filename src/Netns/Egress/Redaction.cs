using System.Text;

namespace Sandboxrun.Netns.Egress;

/// <summary>
/// Keeps secrets out of 403 bodies and audit lines: queries are never shown, and a path segment
/// that looks like a credential (a known token prefix, or a long run of mixed letters and digits)
/// is replaced by <see cref="Marker"/>. UUIDs are kept; they name resources, not secrets.
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
        if (question >= 0)
        {
            path = path[..question];
        }

        StringBuilder? redacted = null;
        var start = 0;
        foreach (var range in path.AsSpan().Split('/'))
        {
            var segment = path.AsSpan()[range];
            if (LooksLikeSecret(segment))
            {
                redacted ??= new StringBuilder(path.Length);
                redacted.Append(path.AsSpan(start, range.Start.Value - start)).Append(Marker);
                start = range.End.Value;
            }
        }

        return redacted is null ? path : redacted.Append(path.AsSpan(start)).ToString();
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
