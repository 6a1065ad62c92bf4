using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Sandboxrun.Netns.Egress;

internal enum HostKind : byte
{
    Name,
    IPv4,
    IPv6,
}

/// <summary>
/// A destination host in the one spelling policy matching compares: a lowercase DNS name without
/// the trailing dot, a dotted-quad IPv4 address, or an RFC 5952 IPv6 address without brackets.
/// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) are the IPv4 address they carry.
/// </summary>
internal readonly record struct CanonicalHost(HostKind Kind, string Text, IPAddress? Address)
{
    public bool IsAddress => Kind != HostKind.Name;
}

/// <summary>
/// Canonicalises host names and IP literals before they are matched, so that every spelling of
/// an address (2130706433, 0x7f.1, 0177.0.0.1, 127.1, [::ffff:127.0.0.1]) is the same address and
/// no spelling reaches a hostname rule.
/// </summary>
internal static class HostName
{
    /// <summary>RFC 1035 §2.3.4: at most 253 characters in text form (255 octets on the wire), labels 1..63.</summary>
    public const int MaxLength = 253;

    public const int MaxLabelLength = 63;

    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789abcdefABCDEF");
    private static readonly SearchValues<char> IPv6Chars = SearchValues.Create("0123456789abcdefABCDEF:.");

    /// <summary>
    /// The canonical form of <paramref name="raw"/>, or false when it is no valid host. A name whose
    /// last label is a number must be an IPv4 address (WHATWG URL "ends in a number"), because
    /// resolvers (inet_aton, getaddrinfo) read it as one: "1.2.3.256" and "foo.0x1" are refused
    /// rather than looked up. Names allow letters, digits, '-' and '_' (the last is common in
    /// service names though outside RFC 952); anything else, including '%' and non-ASCII, is refused
    /// (internationalised names arrive as A-labels, RFC 5890).
    /// </summary>
    public static bool TryCanonicalize(string raw, out CanonicalHost host)
    {
        host = default;
        ReadOnlySpan<char> text = raw;
        if (text.IsEmpty)
        {
            return false;
        }

        if (text[0] == '[')
        {
            return text.Length > 2 && text[^1] == ']' && TryIPv6(text[1..^1], out host);
        }

        if (text.Contains(':'))
        {
            return TryIPv6(text, out host);
        }

        // One trailing dot names the same host (RFC 1034 §3.1, absolute name).
        if (text[^1] == '.')
        {
            text = text[..^1];
        }

        if (text.IsEmpty || text.Length > MaxLength)
        {
            return false;
        }

        var lastLabelStart = text.LastIndexOf('.') + 1;
        if (EndsInNumber(text[lastLabelStart..]))
        {
            if (!TryParseIPv4AnyForm(text, out var v4))
            {
                return false;
            }

            host = new CanonicalHost(HostKind.IPv4, FormatIPv4(v4), IPv4Address(v4));
            return true;
        }

        var hasUpper = false;
        var labelLength = 0;
        foreach (var c in text)
        {
            if (c == '.')
            {
                if (labelLength == 0)
                {
                    return false;
                }

                labelLength = 0;
                continue;
            }

            if (++labelLength > MaxLabelLength)
            {
                return false;
            }

            if (char.IsAsciiLetterUpper(c))
            {
                hasUpper = true;
            }
            else if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c != '-' && c != '_')
            {
                return false;
            }
        }

        if (labelLength == 0)
        {
            return false;
        }

        var canonical = !hasUpper && text.Length == raw.Length ? raw : LowerAscii(text);
        host = new CanonicalHost(HostKind.Name, canonical, null);
        return true;
    }

    private static string LowerAscii(ReadOnlySpan<char> text) =>
        string.Create(text.Length, text, static (dest, src) => src.ToLowerInvariant(dest));

    private static bool TryIPv6(ReadOnlySpan<char> text, out CanonicalHost host)
    {
        host = default;
        // Only hex digits, ':' and '.' (embedded IPv4): no zone id ("%eth0"), no brackets or port,
        // which IPAddress.TryParse would otherwise accept.
        if (text.IsEmpty || text.Length > 45 || text.ContainsAnyExcept(IPv6Chars))
        {
            return false;
        }

        if (!IPAddress.TryParse(text, out var address) || address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            var v4 = address.MapToIPv4();
            host = new CanonicalHost(HostKind.IPv4, v4.ToString(), v4);
            return true;
        }

        host = new CanonicalHost(HostKind.IPv6, address.ToString(), address);
        return true;
    }

    /// <summary>WHATWG URL Standard, "ends in a number checker": all digits, or 0x followed by hex digits.</summary>
    private static bool EndsInNumber(ReadOnlySpan<char> last)
    {
        if (last.IsEmpty)
        {
            return false;
        }

        if (!last.ContainsAnyExceptInRange('0', '9'))
        {
            return true;
        }

        return last.Length >= 2 && last[0] == '0' && (last[1] | 0x20) == 'x' && !last[2..].ContainsAnyExcept(HexDigits);
    }

    /// <summary>
    /// The IPv4 parser of the WHATWG URL Standard (the inet_aton(3) grammar): one to four parts
    /// separated by '.', each decimal, octal with a leading 0, or hex with 0x; the last part fills
    /// the remaining bytes (127.1 is 127.0.0.1, 2130706433 is 127.0.0.1). Host order result.
    /// </summary>
    public static bool TryParseIPv4AnyForm(ReadOnlySpan<char> text, out uint address)
    {
        address = 0;
        Span<ulong> parts = stackalloc ulong[4];
        var count = 0;
        while (true)
        {
            var dot = text.IndexOf('.');
            var part = dot < 0 ? text : text[..dot];
            if (count == 4 || !TryParseIPv4Number(part, out parts[count]))
            {
                return false;
            }

            count++;
            if (dot < 0)
            {
                break;
            }

            text = text[(dot + 1)..];
        }

        for (var i = 0; i < count - 1; i++)
        {
            if (parts[i] > 255)
            {
                return false;
            }
        }

        var lastBits = 8 * (5 - count);
        if (parts[count - 1] >= 1UL << lastBits)
        {
            return false;
        }

        ulong value = parts[count - 1];
        for (var i = 0; i < count - 1; i++)
        {
            value |= parts[i] << (8 * (3 - i));
        }

        address = (uint)value;
        return true;
    }

    private static bool TryParseIPv4Number(ReadOnlySpan<char> part, out ulong value)
    {
        value = 0;
        if (part.IsEmpty)
        {
            return false;
        }

        var radix = 10u;
        if (part.Length >= 2 && part[0] == '0' && (part[1] | 0x20) == 'x')
        {
            part = part[2..];
            radix = 16;
        }
        else if (part.Length >= 2 && part[0] == '0')
        {
            part = part[1..];
            radix = 8;
        }

        foreach (var c in part)
        {
            uint digit = c switch
            {
                >= '0' and <= '9' => (uint)(c - '0'),
                >= 'a' and <= 'f' => (uint)(c - 'a' + 10),
                >= 'A' and <= 'F' => (uint)(c - 'A' + 10),
                _ => 99,
            };
            if (digit >= radix)
            {
                return false;
            }

            value = (value * radix) + digit;
            if (value > uint.MaxValue)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Dotted quad of a host-order address.</summary>
    public static string FormatIPv4(uint address) =>
        string.Create(CultureInfo.InvariantCulture, $"{address >> 24}.{(address >> 16) & 0xFF}.{(address >> 8) & 0xFF}.{address & 0xFF}");

    public static IPAddress IPv4Address(uint address) =>
        new([(byte)(address >> 24), (byte)(address >> 16), (byte)(address >> 8), (byte)address]);
}
