using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Sandboxrun.Policy;

/// <summary>
/// Checks and normal forms for the policy's value syntaxes. Each check returns null when the
/// value is valid (with its normal form in the out parameter) or the error message.
/// </summary>
internal static class PolicySyntax
{
    /// <summary>
    /// An absolute path in lexical normal form: no empty or <c>.</c> components and no trailing
    /// slash (except <c>/</c> itself). <c>..</c> is refused rather than resolved: resolving it
    /// lexically can name a different file than the kernel would through a symlink.
    /// </summary>
    public static string? NormalizeAbsolutePath(string raw, out string normalized)
    {
        normalized = raw;
        if (raw.Length == 0)
        {
            return "expected an absolute path, got an empty string";
        }

        if (raw.Contains('\0', StringComparison.Ordinal))
        {
            return "a path must not contain a NUL character";
        }

        if (raw[0] != '/')
        {
            return $"{YamlValues.Quote(raw)} is a relative path; expected an absolute path starting with /";
        }

        var parts = new List<string>();
        foreach (var part in raw.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                return $"{YamlValues.Quote(raw)} has a '..' component; write the path without it";
            }

            if (part != ".")
            {
                parts.Add(part);
            }
        }

        normalized = "/" + string.Join('/', parts);
        return null;
    }

    /// <summary>
    /// A host name or IP literal, lowercased, one trailing dot removed. Wildcards (OpenShell's
    /// matching): <c>*</c> within the first label matches within that label, <c>**</c> as the whole
    /// first label matches one or more labels, and a middle label may be a whole <c>*</c>. At least
    /// two literal labels must follow the last wildcard, so a pattern never covers a top-level domain.
    /// </summary>
    public static string? CheckHost(string raw, out string normalized)
    {
        var host = raw.ToLowerInvariant();
        if (host.EndsWith('.'))
        {
            host = host[..^1];
        }

        normalized = host;
        if (host.Length == 0)
        {
            return "expected a host name, got an empty string";
        }

        if (TryParseIpLiteral(host, out var address))
        {
            normalized = address.ToString();
            return null;
        }

        if (host.Length > 253)
        {
            return "a host name is at most 253 characters";
        }

        var labels = host.Split('.');
        var lastWildcard = -1;
        for (var i = 0; i < labels.Length; i++)
        {
            var label = labels[i];
            if (label.Length == 0)
            {
                return $"{YamlValues.Quote(raw)} has an empty label";
            }

            if (label.Length > 63)
            {
                return $"{YamlValues.Quote(raw)} has a label longer than 63 characters";
            }

            var bad = label.AsSpan().IndexOfAnyExcept("abcdefghijklmnopqrstuvwxyz0123456789-_*");
            if (bad >= 0)
            {
                return label[bad] == ':'
                    ? $"{YamlValues.Quote(raw)} contains ':'; give the port in 'port' or 'ports'"
                    : $"{YamlValues.Quote(raw)} contains {YamlValues.Quote(label[bad].ToString())}, which is not allowed in a host name";
            }

            if (!label.Contains('*', StringComparison.Ordinal))
            {
                continue;
            }

            lastWildcard = i;
            if (label == "**" ? i != 0 : label.Contains("**", StringComparison.Ordinal))
            {
                return $"{YamlValues.Quote(raw)}: '**' is only allowed as the whole first label";
            }

            if (i > 0 && label != "*")
            {
                return $"{YamlValues.Quote(raw)}: a wildcard after the first label must be a whole '*' label";
            }
        }

        if (lastWildcard >= 0 && labels.Length - lastWildcard - 1 < 2)
        {
            return $"{YamlValues.Quote(raw)}: a wildcard must be followed by at least two literal labels (it would cover a top-level domain)";
        }

        return null;
    }

    private static bool TryParseIpLiteral(string host, out IPAddress address)
    {
        address = IPAddress.None;
        if (host.Contains(':', StringComparison.Ordinal))
        {
            var inner = host is ['[', .., ']'] ? host[1..^1] : host;
            return IPAddress.TryParse(inner, out address!) && address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId == 0;
        }

        // IPAddress.TryParse also takes "1" or "1.2" as IPv4; only a dotted quad is an IP literal here.
        return host.Split('.') is { Length: 4 } parts && parts.All(IsDecimalOctet)
            && IPAddress.TryParse(host, out address!);
    }

    // No leading zeros: inet_aton reads "010" as octal 8, and people never mean that.
    private static bool IsDecimalOctet(string part) =>
        part.Length is > 0 and <= 3 && !part.AsSpan().ContainsAnyExceptInRange('0', '9') && (part.Length == 1 || part[0] != '0')
        && int.Parse(part, CultureInfo.InvariantCulture) <= 255;

    private static readonly (IPNetwork Network, string What)[] ForbiddenRanges =
    [
        (IPNetwork.Parse("127.0.0.0/8"), "loopback"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local"),
        (IPNetwork.Parse("0.0.0.0/8"), "unspecified"),
        (IPNetwork.Parse("::1/128"), "loopback"),
        (IPNetwork.Parse("fe80::/10"), "link-local"),
        (IPNetwork.Parse("::/128"), "unspecified"),
        (IPNetwork.Parse("::ffff:127.0.0.0/104"), "loopback"),
        (IPNetwork.Parse("::ffff:169.254.0.0/112"), "link-local"),
        (IPNetwork.Parse("::ffff:0.0.0.0/104"), "unspecified"),
    ];

    /// <summary>
    /// An address or CIDR range that names where a host may resolve to. A bare address is a
    /// single-address range. Ranges that reach the loopback, link-local (cloud metadata) or
    /// unspecified addresses are refused. <paramref name="warning"/> is set when host bits were masked.
    /// </summary>
    public static string? CheckCidr(string raw, out string normalized, out string? warning)
    {
        normalized = raw;
        warning = null;
        var text = raw;
        if (!raw.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(raw, out var single) && raw.Contains(single.AddressFamily == AddressFamily.InterNetwork ? '.' : ':'))
        {
            text = $"{raw}/{(single.AddressFamily == AddressFamily.InterNetwork ? 32 : 128).ToString(CultureInfo.InvariantCulture)}";
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !IPNetwork.TryParse(text, out var network) || !IPAddress.TryParse(text.AsSpan(0, slash), out var given))
        {
            return $"{YamlValues.Quote(raw)} is not an IP address or CIDR range (like 10.0.0.0/8 or fd00::/8)";
        }

        normalized = network.ToString();
        if (!given.Equals(network.BaseAddress))
        {
            warning = $"{YamlValues.Quote(raw)} has host bits set; it is read as {normalized}";
        }

        foreach (var (forbidden, what) in ForbiddenRanges)
        {
            if (Overlaps(forbidden, network))
            {
                return $"{normalized} overlaps the {what} range {forbidden}, which a policy may not allow";
            }
        }

        return null;
    }

    /// <summary>Two ranges overlap when they agree on the bits of the shorter prefix.</summary>
    private static bool Overlaps(IPNetwork a, IPNetwork b)
    {
        if (a.BaseAddress.AddressFamily != b.BaseAddress.AddressFamily)
        {
            return false;
        }

        Span<byte> x = stackalloc byte[16];
        Span<byte> y = stackalloc byte[16];
        a.BaseAddress.TryWriteBytes(x, out var length);
        b.BaseAddress.TryWriteBytes(y, out _);
        var bits = Math.Min(a.PrefixLength, b.PrefixLength);
        for (var i = 0; i < length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : 0xFF << (8 - bits) & 0xFF;
            if ((x[i] & mask) != (y[i] & mask))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A byte size: digits with an optional suffix K/M/G/T/P (powers of 1000, Kubernetes style,
    /// also lowercase k) or Ki/Mi/Gi/Ti/Pi (powers of 1024). Must be greater than zero.
    /// </summary>
    public static string? ParseSize(string raw, out long bytes)
    {
        bytes = 0;
        var digitsEnd = raw.AsSpan().IndexOfAnyExceptInRange('0', '9');
        if (digitsEnd < 0)
        {
            digitsEnd = raw.Length;
        }

        long multiplier = raw[digitsEnd..] switch
        {
            "" => 1,
            "k" or "K" => 1000L,
            "M" => 1000L * 1000,
            "G" => 1000L * 1000 * 1000,
            "T" => 1000L * 1000 * 1000 * 1000,
            "P" => 1000L * 1000 * 1000 * 1000 * 1000,
            "Ki" => 1L << 10,
            "Mi" => 1L << 20,
            "Gi" => 1L << 30,
            "Ti" => 1L << 40,
            "Pi" => 1L << 50,
            _ => 0,
        };
        if (digitsEnd == 0 || multiplier == 0 || !long.TryParse(raw.AsSpan(0, digitsEnd), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return $"{YamlValues.Quote(raw)} is not a size; expected a number of bytes with an optional suffix, like 1000000, 512Mi, 4Gi or 1G";
        }

        if (count == 0 || count > long.MaxValue / multiplier)
        {
            return $"{YamlValues.Quote(raw)} is out of range; expected a size greater than 0 and below 8 EiB";
        }

        bytes = count * multiplier;
        return null;
    }

    /// <summary>An absolute http or https URL without credentials.</summary>
    public static string? CheckUrl(string raw)
    {
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0
            || !raw.StartsWith(uri.Scheme + "://", StringComparison.OrdinalIgnoreCase))
        {
            return $"{YamlValues.Quote(raw)} is not an absolute http:// or https:// URL";
        }

        return uri.UserInfo.Length > 0 ? "the URL must not carry credentials; use api_key or api_key_env" : null;
    }

    /// <summary>POSIX portable environment variable name: [A-Za-z_][A-Za-z0-9_]*.</summary>
    public static bool IsEnvName(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0])
        && !name.AsSpan().ContainsAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

    public static bool IsSha256(string text) => text.Length == 64 && !text.AsSpan().ContainsAnyExcept("0123456789abcdefABCDEF");

    /// <summary>A user or group name as shadow-utils accepts it (NAME_REGEX, relaxed to allow capitals and '.').</summary>
    public static bool IsAccountName(string name) =>
        name.Length is > 0 and <= 32 && (char.IsAsciiLetter(name[0]) || name[0] == '_')
        && !name.AsSpan(0, name.EndsWith('$') ? name.Length - 1 : name.Length)
            .ContainsAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");

    /// <summary>An HTTP method token (uppercased by the caller) or <c>*</c> for any.</summary>
    public static bool IsMethod(string method) =>
        method == "*" || (method.Length is > 0 and <= 32 && !method.AsSpan().ContainsAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
}
