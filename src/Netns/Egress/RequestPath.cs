using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Sandboxrun.Netns.Egress;

/// <summary>Why a request path has no single meaning; anything but <see cref="None"/> denies the request.</summary>
internal enum PathProblem : byte
{
    None,
    NotAbsolute,
    TooLong,
    InvalidCharacter,
    InvalidPercentEncoding,
    EncodedSlash,
    EncodedDot,
    Backslash,
    Nul,
    ControlCharacter,
    InvalidUtf8,
    DoubleEncoding,
    AboveRoot,
}

/// <summary>
/// Normalises the path of an origin-form request-target so that the path the policy judges is
/// the path the upstream receives. The proxy forwards <c>normalized</c>, never the raw bytes.
/// <list type="bullet">
/// <item>Characters: RFC 3986 §3.3 pchar and '/' only; anything else (space, '\', '#', raw
/// non-ASCII, controls) is refused rather than guessed at.</item>
/// <item>Percent-encoding (§2.1, §2.3, §6.2.2): octets of unreserved characters are decoded
/// (ALPHA, DIGIT, '-', '_', '~'); every other octet stays encoded with uppercase hex. Encoded
/// '.' (servers differ on whether it forms a dot-segment), '\' (some servers treat it as '/'),
/// NUL and controls, and "%25" followed by two hex digits (double encoding) are refused. Encoded
/// '/' is refused unless the endpoint has <c>allow_encoded_slash</c>; it then stays "%2F" inside
/// its segment, and a dot-segment hidden between two of them is still refused. The decoded octets
/// must form valid UTF-8 (overlong forms like %C0%AE are invalid).</item>
/// <item>Segments: ";params" are cut from each segment before dot-segments are resolved (Tomcat
/// and others ignore them, so "/..;/" would otherwise be a ".." the policy never saw); empty
/// segments ("//") are dropped except a trailing one; "." and ".." are resolved per §5.2.4, and a
/// ".." above the root is refused instead of being clamped to "/".</item>
/// </list>
/// </summary>
internal static class RequestPath
{
    /// <summary>Longest path accepted (the request line limit bounds it anyway).</summary>
    public const int MaxLength = 8192;

    // RFC 3986 §2.3 unreserved, without '.', which is handled on its own.
    private static readonly SearchValues<char> DecodableUnreserved =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~");

    // RFC 3986 §3.3 pchar minus pct-encoded: unreserved / sub-delims / ":" / "@", plus '/'.
    private static readonly SearchValues<char> PlainPathChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/");

    public static PathProblem Normalize(string raw, bool allowEncodedSlash, out string normalized) =>
        Normalize(raw, allowEncodedSlash, out normalized, out _);

    /// <param name="hasEncodedSlash">Set when the result keeps a "%2F" (only with <paramref name="allowEncodedSlash"/>).</param>
    public static PathProblem Normalize(string raw, bool allowEncodedSlash, out string normalized, out bool hasEncodedSlash) =>
        Normalize(raw, allowEncodedSlash, fastPath: true, out normalized, out hasEncodedSlash);

    /// <param name="fastPath">False only in tests, which check that the fast path agrees with the full one.</param>
    internal static PathProblem Normalize(string raw, bool allowEncodedSlash, bool fastPath, out string normalized, out bool hasEncodedSlash)
    {
        ArgumentNullException.ThrowIfNull(raw);
        normalized = "";
        hasEncodedSlash = false;
        if (raw.Length == 0 || raw[0] != '/')
        {
            return PathProblem.NotAbsolute;
        }

        if (raw.Length > MaxLength)
        {
            return PathProblem.TooLong;
        }

        if (fastPath && IsAlreadyNormal(raw))
        {
            normalized = raw;
            return PathProblem.None;
        }

        // Pass 1: check characters, decode what may be decoded, keep every octet for the UTF-8 check.
        var decoded = new StringBuilder(raw.Length);
        Span<byte> octets = raw.Length <= 1024 ? stackalloc byte[raw.Length] : new byte[raw.Length];
        var octetCount = 0;
        var hasHigh = false;
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c != '%')
            {
                if (!PlainPathChars.Contains(c))
                {
                    return c switch
                    {
                        '\\' => PathProblem.Backslash,
                        '\0' => PathProblem.Nul,
                        < ' ' or '\x7f' => PathProblem.ControlCharacter,
                        _ => PathProblem.InvalidCharacter,
                    };
                }

                decoded.Append(c);
                octets[octetCount++] = (byte)c;
                continue;
            }

            if (i + 2 >= raw.Length || !TryHex(raw[i + 1], raw[i + 2], out var b))
            {
                return PathProblem.InvalidPercentEncoding;
            }

            i += 2;
            octets[octetCount++] = b;
            switch (b)
            {
                case (byte)'.':
                    return PathProblem.EncodedDot;
                case (byte)'\\':
                    return PathProblem.Backslash;
                case 0:
                    return PathProblem.Nul;
                case < 0x20 or 0x7F:
                    return PathProblem.ControlCharacter;
                case (byte)'/':
                    if (!allowEncodedSlash)
                    {
                        return PathProblem.EncodedSlash;
                    }

                    hasEncodedSlash = true;
                    decoded.Append("%2F");
                    break;
                case >= 0x80:
                    hasHigh = true;
                    AppendEncoded(decoded, b);
                    break;
                default:
                    if (DecodableUnreserved.Contains((char)b))
                    {
                        decoded.Append((char)b);
                    }
                    else
                    {
                        AppendEncoded(decoded, b);
                    }

                    break;
            }
        }

        if (hasHigh && !Utf8.IsValid(octets[..octetCount]))
        {
            return PathProblem.InvalidUtf8;
        }

        // Pass 2: segments. decoded starts with '/'; a kept "%2F" never splits.
        var text = decoded.ToString();

        // An encoded '%' followed by two hex digits decodes to another escape: "%252e" is "%2e"
        // to a server that decodes once and "." to one that decodes twice. Checked on the decoded
        // text, since "%25%41b" becomes "%25Ab" here. Later steps only drop whole segments or
        // ";params" up to the next '/', so they cannot create a new such sequence.
        for (var at = text.IndexOf("%25", StringComparison.Ordinal); at >= 0; at = text.IndexOf("%25", at + 3, StringComparison.Ordinal))
        {
            if (at + 4 < text.Length && HexValue(text[at + 3]) >= 0 && HexValue(text[at + 4]) >= 0)
            {
                return PathProblem.DoubleEncoding;
            }
        }
        var segments = new List<string>();
        var parts = text[1..].Split('/');
        for (var i = 0; i < parts.Length; i++)
        {
            var segment = parts[i];
            var semicolon = segment.IndexOf(';', StringComparison.Ordinal);
            if (semicolon >= 0)
            {
                segment = segment[..semicolon];
            }

            var last = i == parts.Length - 1;
            if (segment == "..")
            {
                if (segments.Count == 0)
                {
                    return PathProblem.AboveRoot;
                }

                segments.RemoveAt(segments.Count - 1);
                if (last)
                {
                    segments.Add("");
                }
            }
            else if (segment == "." || segment.Length == 0)
            {
                if (last)
                {
                    segments.Add("");
                }
            }
            else
            {
                if (hasEncodedSlash && HidesDotSegment(segment))
                {
                    return PathProblem.EncodedSlash;
                }

                segments.Add(segment);
            }
        }

        normalized = segments.Count switch
        {
            0 => "/",
            _ => "/" + string.Join('/', segments),
        };
        return PathProblem.None;
    }

    /// <summary>
    /// The common case, without allocating a builder: plain characters only (no '%', no ';'), and
    /// no empty (except the last), "." or ".." segment. Normalising such a path changes nothing.
    /// </summary>
    private static bool IsAlreadyNormal(ReadOnlySpan<char> raw)
    {
        if (raw.ContainsAnyExcept(PlainPathChars) || raw.IndexOfAny('%', ';') >= 0)
        {
            return false;
        }

        var rest = raw[1..];
        while (true)
        {
            var slash = rest.IndexOf('/');
            var segment = slash < 0 ? rest : rest[..slash];
            if ((segment.IsEmpty && slash >= 0) || segment is "." or "..")
            {
                return false;
            }

            if (slash < 0)
            {
                return true;
            }

            rest = rest[(slash + 1)..];
        }
    }

    /// <summary>"a%2F..%2Fb": an upstream that decodes %2F before resolving dot-segments sees "..".</summary>
    private static bool HidesDotSegment(string segment)
    {
        foreach (var range in segment.AsSpan().Split("%2F"))
        {
            var part = segment.AsSpan()[range];
            if (part is "." or "..")
            {
                return true;
            }
        }

        return false;
    }

    private static void AppendEncoded(StringBuilder builder, byte b)
    {
        const string Hex = "0123456789ABCDEF";
        builder.Append('%').Append(Hex[b >> 4]).Append(Hex[b & 0xF]);
    }

    private static bool TryHex(char high, char low, out byte value)
    {
        var h = HexValue(high);
        var l = HexValue(low);
        value = (byte)((h << 4) | l);
        return h >= 0 && l >= 0;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Why <paramref name="problem"/> denies a request, for the 403 detail and the audit log.</summary>
    public static string Describe(PathProblem problem) => problem switch
    {
        PathProblem.None => "the path is unambiguous",
        PathProblem.NotAbsolute => "the path does not start with /",
        PathProblem.TooLong => $"the path is longer than {MaxLength} characters",
        PathProblem.InvalidCharacter => "the path contains a character that must be percent-encoded (RFC 3986 §3.3)",
        PathProblem.InvalidPercentEncoding => "the path contains a '%' not followed by two hex digits",
        PathProblem.EncodedSlash => "the path contains an encoded '/' (%2F), which this endpoint does not allow (allow_encoded_slash)",
        PathProblem.EncodedDot => "the path contains an encoded '.' (%2E), which servers disagree on",
        PathProblem.Backslash => "the path contains a backslash, which some servers read as '/'",
        PathProblem.Nul => "the path contains a NUL byte",
        PathProblem.ControlCharacter => "the path contains a control character",
        PathProblem.InvalidUtf8 => "the path's percent-encoded octets are not valid UTF-8",
        PathProblem.DoubleEncoding => "the path is percent-encoded twice (%25XX)",
        PathProblem.AboveRoot => "the path's '..' segments climb above the root",
        _ => "the path is ambiguous",
    };
}
