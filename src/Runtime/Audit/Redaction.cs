using System.Text.RegularExpressions;

namespace Sandboxrun.Audit;

/// <summary>Removes credentials from text before it is logged: key-shaped tokens, auth headers, query strings' secrets.</summary>
internal static partial class Redaction
{
    public const string Mask = "[redacted]";

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
}
