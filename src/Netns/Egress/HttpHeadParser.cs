using System.Buffers;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Sandboxrun.Netns.Egress;

/// <summary>Character classes of RFC 9110 §5.6.2 (tokens) and §5.5 (field values).</summary>
internal static class HttpSyntax
{
    // tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private static readonly SearchValues<byte> TcharBytes =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    private static readonly SearchValues<char> TcharChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    public static bool IsTchar(byte b) => TcharBytes.Contains(b);

    public static bool IsToken(ReadOnlySpan<byte> text) => !text.IsEmpty && !text.ContainsAnyExcept(TcharBytes);

    public static bool IsToken(ReadOnlySpan<char> text) => !text.IsEmpty && !text.ContainsAnyExcept(TcharChars);

    /// <summary>Control characters other than HTAB, or DEL: never valid in a field value, reason phrase or chunk extension (RFC 9110 §5.5).</summary>
    public static bool HasControls(ReadOnlySpan<byte> text) =>
        text.ContainsAnyInRange((byte)0, (byte)0x08) || text.ContainsAnyInRange((byte)0x0A, (byte)0x1F) || text.Contains((byte)0x7F);
}

internal enum HeadParseStatus : byte
{
    /// <summary>No complete head yet and no limit exceeded: read more.</summary>
    Incomplete,
    Parsed,

    /// <summary>Answer <see cref="HeadParseResult.StatusCode"/> and close the connection.</summary>
    Rejected,
}

internal enum RequestTargetForm : byte
{
    /// <summary>RFC 9112 §3.2.1 "/path?query": the authority comes from Host (or the tunnel).</summary>
    Origin,

    /// <summary>RFC 9112 §3.2.2 "http://host:port/path?query": what a client sends to a forward proxy.</summary>
    Absolute,

    /// <summary>RFC 9112 §3.2.3 "host:port": CONNECT only.</summary>
    Authority,
}

/// <summary>The outcome of one parse attempt; a value in every case, never an exception.</summary>
internal readonly record struct HeadParseResult(HeadParseStatus Status, HttpRequestHead? Head, int StatusCode, string Reason)
{
    public static readonly HeadParseResult Incomplete = new(HeadParseStatus.Incomplete, null, 0, "");

    public static HeadParseResult Parsed(HttpRequestHead head) => new(HeadParseStatus.Parsed, head, 0, "");

    public static HeadParseResult Rejected(int statusCode, string reason) => new(HeadParseStatus.Rejected, null, statusCode, reason);
}

/// <summary>The authority a terminated TLS tunnel was opened for (CONNECT host:port).</summary>
internal readonly record struct TunnelAuthority(string Host, int Port);

/// <summary>A parsed request head: request line, header fields and the framing decided from them.</summary>
internal sealed class HttpRequestHead
{
    public required string Method { get; init; }

    public required RequestTargetForm Form { get; init; }

    /// <summary>Canonical destination host (<see cref="HostName"/>), from the target or, for origin-form, Host.</summary>
    public required string Host { get; init; }

    public required int Port { get; init; }

    /// <summary>Raw path of the target ("/" when absent), empty for CONNECT; normalised later by the decision.</summary>
    public required string Path { get; init; }

    /// <summary>Raw query without '?', or null.</summary>
    public string? Query { get; init; }

    /// <summary>10 or 11.</summary>
    public required int Version { get; init; }

    /// <summary>Field lines in order; names as sent, values with surrounding whitespace removed (ISO-8859-1).</summary>
    public required ImmutableArray<KeyValuePair<string, string>> Headers { get; init; }

    public long? ContentLength { get; init; }

    /// <summary>Transfer-Encoding ends with chunked (RFC 9112 §6.1); the body is chunked.</summary>
    public bool Chunked { get; init; }

    /// <summary>Bytes of the head including the empty line; the body (if any) starts here.</summary>
    public required int HeadLength { get; init; }

    public bool IsConnect => Form == RequestTargetForm.Authority;

    /// <summary>"host:port" with IPv6 in brackets, the port omitted when it is 80 on an http request.</summary>
    public string Authority => FormatAuthority(Host, Port, omitPort: !IsConnect && Port == 80);

    public EgressRequest ToEgressRequest(EgressExecutable binary, ImmutableArray<EgressExecutable> ancestors) => new()
    {
        Host = Host,
        Port = Port,
        Layer = IsConnect ? EgressLayer.L4 : EgressLayer.L7,
        Binary = binary,
        Ancestors = ancestors,
        Method = IsConnect ? null : Method,
        Path = IsConnect ? null : Path,
        Query = IsConnect ? null : Query,
    };

    /// <summary>
    /// The head as a proxy request (absolute-form, or authority-form for CONNECT) with Host
    /// regenerated from the target (RFC 9112 §3.2.2: a proxy forwarding absolute-form replaces Host
    /// with the target's authority). Parsing the result yields the same destination and request.
    /// </summary>
    public byte[] ToProxyRequestBytes()
    {
        var text = new StringBuilder();
        text.Append(Method).Append(' ');
        if (IsConnect)
        {
            text.Append(Authority);
        }
        else
        {
            text.Append("http://").Append(Authority).Append(Path);
            if (Query is not null)
            {
                text.Append('?').Append(Query);
            }
        }

        text.Append(Version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
        text.Append("Host: ").Append(Authority).Append("\r\n");
        foreach (var (name, value) in Headers)
        {
            if (!name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                text.Append(name).Append(": ").Append(value).Append("\r\n");
            }
        }

        text.Append("\r\n");
        return Encoding.Latin1.GetBytes(text.ToString());
    }

    public static string FormatAuthority(string host, int port, bool omitPort)
    {
        var bracketed = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;
        return omitPort ? bracketed : $"{bracketed}:{port.ToString(CultureInfo.InvariantCulture)}";
    }
}

/// <summary>
/// A strict HTTP/1.1 request-head parser for the egress proxy (RFC 9112), reading from the
/// connection's pipe without copying the head. Anything a server and the proxy could read two
/// ways is refused (RFC 9112 §11.2, request smuggling), with 400; size limits answer 414 or 431.
/// <list type="table">
/// <item><term>request line</term><description>at most <see cref="MaxRequestLineBytes"/> bytes without CRLF (RFC 9112 §3 recommends supporting 8000), else 414 (RFC 9110 §15.5.15).</description></item>
/// <item><term>head</term><description>at most <see cref="MaxConnectHeadBytes"/> for CONNECT and <see cref="MaxHeadBytes"/> otherwise, including CRLFs, else 431 (RFC 6585 §5).</description></item>
/// <item><term>fields</term><description>at most <see cref="MaxHeaderCount"/> field lines, else 431.</description></item>
/// </list>
/// Refused with 400: line ends other than CRLF (bare LF or CR, RFC 9112 §2.2), empty lines before
/// the request line (§2.2 lets a server skip one; proxy clients never send them, so they are refused),
/// a method that is not a token, a request line not "METHOD SP target SP HTTP/1.x", versions other
/// than 1.0 and 1.1, a target with bytes outside VCHAR or a fragment, asterisk-form, absolute-form
/// with a scheme other than http (https goes through CONNECT), userinfo in an authority, bad ports,
/// obs-fold (§5.2), whitespace before ':' (§5.1), field values with NUL or other controls (RFC 9110
/// §5.5), a missing or repeated Host on HTTP/1.1 (§3.2), a Host that names another authority than
/// the target (§3.2.2), a repeated or malformed Content-Length (RFC 9110 §8.6), Transfer-Encoding
/// together with Content-Length, on HTTP/1.0, repeated, or not ending in a single chunked (§6.1,
/// §6.3), and content on CONNECT (RFC 9110 §9.3.6).
/// </summary>
internal static class HttpHeadParser
{
    public const int MaxRequestLineBytes = 8 * 1024;
    public const int MaxConnectHeadBytes = 8 * 1024;
    public const int MaxHeadBytes = 32 * 1024;
    public const int MaxHeaderCount = 100;

    private static readonly string[] KnownCodings = ["gzip", "x-gzip", "deflate", "compress", "x-compress"];

    /// <summary>
    /// Parses the head at the start of <paramref name="buffer"/>. On <see cref="HeadParseStatus.Incomplete"/>
    /// the caller reads more and calls again with the longer buffer; on Parsed it advances by
    /// <see cref="HttpRequestHead.HeadLength"/>.
    /// </summary>
    /// <param name="tunnel">Inside a terminated tunnel: the CONNECT authority every request must name.</param>
    public static HeadParseResult Parse(in ReadOnlySequence<byte> buffer, TunnelAuthority? tunnel = null)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySpan<byte> requestLine, (byte)'\n'))
        {
            return buffer.Length > MaxRequestLineBytes + 1
                ? HeadParseResult.Rejected(414, $"the request line is longer than {MaxRequestLineBytes} bytes")
                : EarlyReject(buffer) ?? HeadParseResult.Incomplete;
        }

        if (requestLine.Length > MaxRequestLineBytes + 1)
        {
            return HeadParseResult.Rejected(414, $"the request line is longer than {MaxRequestLineBytes} bytes");
        }

        if (LineEnd(ref requestLine) is { } lineError)
        {
            return lineError;
        }

        if (requestLine.IsEmpty)
        {
            return HeadParseResult.Rejected(400, "empty line before the request line");
        }

        if (ParseRequestLine(requestLine, out var method, out var target, out var version) is { } requestLineError)
        {
            return requestLineError;
        }

        var isConnect = method == "CONNECT";
        var limit = isConnect ? MaxConnectHeadBytes : MaxHeadBytes;
        if (reader.Consumed > limit)
        {
            return HeadParseResult.Rejected(431, $"the request head is larger than {limit} bytes");
        }

        var headers = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>();
        string? hostHeader = null;
        string? contentLength = null;
        string? transferEncoding = null;
        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySpan<byte> line, (byte)'\n'))
            {
                return buffer.Length > limit
                    ? HeadParseResult.Rejected(431, $"the request head is larger than {limit} bytes")
                    : HeadParseResult.Incomplete;
            }

            if (reader.Consumed > limit)
            {
                return HeadParseResult.Rejected(431, $"the request head is larger than {limit} bytes");
            }

            if (LineEnd(ref line) is { } error)
            {
                return error;
            }

            if (line.IsEmpty)
            {
                break;
            }

            if (line[0] is (byte)' ' or (byte)'\t')
            {
                return HeadParseResult.Rejected(400, "obsolete line folding in a header field (RFC 9112 §5.2)");
            }

            var colon = line.IndexOf((byte)':');
            if (colon < 0)
            {
                return HeadParseResult.Rejected(400, "a header line without ':'");
            }

            var name = line[..colon];
            if (!name.IsEmpty && name[^1] is (byte)' ' or (byte)'\t')
            {
                return HeadParseResult.Rejected(400, "whitespace between a header field name and ':' (RFC 9112 §5.1)");
            }

            if (!HttpSyntax.IsToken(name))
            {
                return HeadParseResult.Rejected(400, "a header field name that is not a token");
            }

            var value = line[(colon + 1)..].Trim(" \t"u8);
            foreach (var b in value)
            {
                if (b == 0)
                {
                    return HeadParseResult.Rejected(400, "a NUL byte in a header field value");
                }

                if ((b < 0x20 && b != (byte)'\t') || b == 0x7F)
                {
                    return HeadParseResult.Rejected(400, "a control character in a header field value");
                }
            }

            if (headers.Count == MaxHeaderCount)
            {
                return HeadParseResult.Rejected(431, $"more than {MaxHeaderCount} header fields");
            }

            var nameText = Encoding.ASCII.GetString(name);
            var valueText = Encoding.Latin1.GetString(value);
            headers.Add(new(nameText, valueText));
            if (nameText.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                if (hostHeader is not null)
                {
                    return HeadParseResult.Rejected(400, "more than one Host header (RFC 9112 §3.2)");
                }

                hostHeader = valueText;
            }
            else if (nameText.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (contentLength is not null)
                {
                    return HeadParseResult.Rejected(400, "more than one Content-Length header");
                }

                contentLength = valueText;
            }
            else if (nameText.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                if (transferEncoding is not null)
                {
                    return HeadParseResult.Rejected(400, "more than one Transfer-Encoding header");
                }

                transferEncoding = valueText;
            }
        }

        if (ResolveTarget(method, target, version, hostHeader, tunnel, out var form, out var host, out var port, out var path, out var query) is { } targetError)
        {
            return targetError;
        }

        if (Framing(isConnect, version, contentLength, transferEncoding, out var length, out var chunked) is { } framingError)
        {
            return framingError;
        }

        return HeadParseResult.Parsed(new HttpRequestHead
        {
            Method = method,
            Form = form,
            Host = host,
            Port = port,
            Path = path,
            Query = query,
            Version = version,
            Headers = headers.ToImmutable(),
            ContentLength = length,
            Chunked = chunked,
            HeadLength = checked((int)reader.Consumed),
        });
    }

    /// <summary>
    /// Before the first LF: refuse at once what can never become a valid request line (a NUL,
    /// a bare CR, or a byte that is no token character where the method is), instead of waiting
    /// for the line limit.
    /// </summary>
    private static HeadParseResult? EarlyReject(in ReadOnlySequence<byte> buffer)
    {
        var inMethod = true;
        var previousCr = false;
        foreach (var memory in buffer)
        {
            foreach (var b in memory.Span)
            {
                if (previousCr || b == 0)
                {
                    return HeadParseResult.Rejected(400, previousCr ? "a bare CR in the request line (RFC 9112 §2.2)" : "a NUL byte in the request line");
                }

                previousCr = b == (byte)'\r';
                if (inMethod && b == (byte)' ')
                {
                    inMethod = false;
                }
                else if (inMethod && !HttpSyntax.IsTchar(b))
                {
                    return HeadParseResult.Rejected(400, b == (byte)'\r' ? "empty line before the request line" : "the method is not a token (RFC 9110 §9.1)");
                }
            }
        }

        return null;
    }

    /// <summary>A line read up to LF must end in CR (removed here) and hold no other CR.</summary>
    private static HeadParseResult? LineEnd(ref ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty || line[^1] != (byte)'\r')
        {
            return HeadParseResult.Rejected(400, "a line ending in a bare LF (RFC 9112 §2.2)");
        }

        line = line[..^1];
        return line.Contains((byte)'\r') ? HeadParseResult.Rejected(400, "a bare CR (RFC 9112 §2.2)") : null;
    }

    private static HeadParseResult? ParseRequestLine(ReadOnlySpan<byte> line, out string method, out string target, out int version)
    {
        method = target = "";
        version = 0;
        var sp1 = line.IndexOf((byte)' ');
        if (sp1 < 0)
        {
            return HeadParseResult.Rejected(400, "a request line without a target and version");
        }

        if (!HttpSyntax.IsToken(line[..sp1]))
        {
            return HeadParseResult.Rejected(400, "the method is not a token (RFC 9110 §9.1)");
        }

        var rest = line[(sp1 + 1)..];
        var sp2 = rest.IndexOf((byte)' ');
        if (sp2 < 0)
        {
            return HeadParseResult.Rejected(400, "a request line without an HTTP version (HTTP/0.9 is not supported)");
        }

        var targetBytes = rest[..sp2];
        var versionBytes = rest[(sp2 + 1)..];
        if (targetBytes.IsEmpty)
        {
            return HeadParseResult.Rejected(400, "an empty request target, or more than one space in the request line");
        }

        if (targetBytes.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E))
        {
            return HeadParseResult.Rejected(400, "the request target contains a byte outside visible ASCII (RFC 9112 §3.2)");
        }

        if (targetBytes.Contains((byte)'#'))
        {
            return HeadParseResult.Rejected(400, "the request target contains a fragment (RFC 9112 §3.2)");
        }

        if (versionBytes.SequenceEqual("HTTP/1.1"u8))
        {
            version = 11;
        }
        else if (versionBytes.SequenceEqual("HTTP/1.0"u8))
        {
            version = 10;
        }
        else
        {
            return HeadParseResult.Rejected(400, "only HTTP/1.1 and HTTP/1.0 are supported");
        }

        method = Encoding.ASCII.GetString(line[..sp1]);
        target = Encoding.ASCII.GetString(targetBytes);
        return null;
    }

    private static HeadParseResult? ResolveTarget(
        string method, string target, int version, string? hostHeader, TunnelAuthority? tunnel,
        out RequestTargetForm form, out string host, out int port, out string path, out string? query)
    {
        form = RequestTargetForm.Origin;
        host = path = "";
        port = 0;
        query = null;
        if (version == 11 && hostHeader is null)
        {
            return HeadParseResult.Rejected(400, "an HTTP/1.1 request without Host (RFC 9112 §3.2)");
        }

        Authority? hostAuthority = null;
        if (hostHeader is not null)
        {
            if (!TryParseAuthority(hostHeader, requirePort: false, out var parsed))
            {
                return HeadParseResult.Rejected(400, "the Host header is not a valid host[:port]");
            }

            hostAuthority = parsed;
        }

        if (method == "CONNECT")
        {
            if (tunnel is not null)
            {
                return HeadParseResult.Rejected(400, "CONNECT inside a tunnel");
            }

            form = RequestTargetForm.Authority;
            if (!TryParseAuthority(target, requirePort: true, out var authority))
            {
                return HeadParseResult.Rejected(400, "the CONNECT target is not host:port (RFC 9112 §3.2.3)");
            }

            // A Host without a port names the same host; with a port it must be the same port.
            if (hostAuthority is { } h && (h.Host != authority.Host || (h.Port is { } hp && hp != authority.Port)))
            {
                return HeadParseResult.Rejected(400, "the Host header names another authority than the CONNECT target");
            }

            (host, port) = (authority.Host, authority.Port!.Value);
            return null;
        }

        if (target[0] == '/')
        {
            SplitPathAndQuery(target, out path, out query);
            if (tunnel is { } t)
            {
                if (hostAuthority is { } h && (h.Host != t.Host || (h.Port is { } hp && hp != t.Port)))
                {
                    return HeadParseResult.Rejected(400, "the Host header names another authority than the tunnel");
                }

                (host, port) = (t.Host, t.Port);
                return null;
            }

            if (hostAuthority is not { } origin)
            {
                return HeadParseResult.Rejected(400, "an origin-form request without Host names no destination");
            }

            (host, port) = (origin.Host, origin.Port ?? 80);
            return null;
        }

        if (target == "*")
        {
            return HeadParseResult.Rejected(400, "asterisk-form (OPTIONS *) names no destination");
        }

        form = RequestTargetForm.Absolute;
        var schemeEnd = target.IndexOf("://", StringComparison.Ordinal);
        var scheme = schemeEnd > 0 ? target[..schemeEnd].ToLowerInvariant() : "";
        var defaultPort = scheme switch
        {
            "http" => 80,
            "https" when tunnel is not null => 443,
            "https" => -1,
            _ => 0,
        };
        if (defaultPort == -1)
        {
            return HeadParseResult.Rejected(400, "https:// targets must use CONNECT");
        }

        if (defaultPort == 0)
        {
            return HeadParseResult.Rejected(400, "only http:// absolute targets are supported");
        }

        var rest = target[(schemeEnd + 3)..];
        var authorityEnd = rest.IndexOfAny(['/', '?']);
        var authorityText = authorityEnd < 0 ? rest : rest[..authorityEnd];
        if (!TryParseAuthority(authorityText, requirePort: false, out var absolute))
        {
            return HeadParseResult.Rejected(400, "the request target's authority is not a valid host[:port]");
        }

        var absolutePort = absolute.Port ?? defaultPort;
        if (hostAuthority is { } hostValue && (hostValue.Host != absolute.Host || (hostValue.Port ?? defaultPort) != absolutePort))
        {
            return HeadParseResult.Rejected(400, "the Host header names another authority than the request target (RFC 9112 §3.2.2)");
        }

        if (tunnel is { } tunnelAuthority && (absolute.Host != tunnelAuthority.Host || absolutePort != tunnelAuthority.Port))
        {
            return HeadParseResult.Rejected(400, "the request target names another authority than the tunnel");
        }

        var pathAndQuery = authorityEnd < 0 ? "/" : rest[authorityEnd..];
        if (pathAndQuery[0] == '?')
        {
            pathAndQuery = "/" + pathAndQuery;
        }

        SplitPathAndQuery(pathAndQuery, out path, out query);
        (host, port) = (absolute.Host, absolutePort);
        return null;
    }

    private static void SplitPathAndQuery(string target, out string path, out string? query)
    {
        var question = target.IndexOf('?', StringComparison.Ordinal);
        (path, query) = question < 0 ? (target, null) : (target[..question], target[(question + 1)..]);
    }

    private readonly record struct Authority(string Host, int? Port);

    /// <summary>
    /// RFC 3986 §3.2 authority without userinfo: reg-name, IPv4 or "[IPv6]", then ":port" (1..65535,
    /// digits only, no leading zero). The host is canonicalised; a name that ends in a number must
    /// be a valid IPv4 address.
    /// </summary>
    private static bool TryParseAuthority(string text, bool requirePort, out Authority authority)
    {
        authority = default;
        if (text.Length == 0 || text.Contains('@', StringComparison.Ordinal))
        {
            return false;
        }

        string hostText;
        string? portText = null;
        if (text[0] == '[')
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            hostText = text[..(close + 1)];
            var after = text[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':')
                {
                    return false;
                }

                portText = after[1..];
            }
        }
        else
        {
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0 && text.IndexOf(':', colon + 1) >= 0)
            {
                return false;
            }

            hostText = colon < 0 ? text : text[..colon];
            portText = colon < 0 ? null : text[(colon + 1)..];
            if (hostText.Contains(']', StringComparison.Ordinal))
            {
                return false;
            }
        }

        int? port = null;
        if (portText is not null)
        {
            if (portText.Length is 0 or > 5 || portText[0] == '0' || portText.AsSpan().ContainsAnyExceptInRange('0', '9'))
            {
                return false;
            }

            var value = int.Parse(portText, NumberStyles.None, CultureInfo.InvariantCulture);
            if (value > 65535)
            {
                return false;
            }

            port = value;
        }

        if (requirePort && port is null)
        {
            return false;
        }

        if (!HostName.TryCanonicalize(hostText, out var host))
        {
            return false;
        }

        authority = new Authority(host.Text, port);
        return true;
    }

    private static HeadParseResult? Framing(bool isConnect, int version, string? contentLength, string? transferEncoding, out long? length, out bool chunked)
    {
        length = null;
        chunked = false;
        if (contentLength is not null)
        {
            // RFC 9110 §8.6: Content-Length = 1*DIGIT. A list ("5, 5"), a sign or an exponent is refused.
            if (contentLength.Length is 0 or > 18 || contentLength.AsSpan().ContainsAnyExceptInRange('0', '9'))
            {
                return HeadParseResult.Rejected(400, "Content-Length is not a single decimal number");
            }

            length = long.Parse(contentLength, NumberStyles.None, CultureInfo.InvariantCulture);
        }

        if (transferEncoding is not null)
        {
            if (contentLength is not null)
            {
                return HeadParseResult.Rejected(400, "both Transfer-Encoding and Content-Length (RFC 9112 §6.1)");
            }

            if (version == 10)
            {
                return HeadParseResult.Rejected(400, "Transfer-Encoding on an HTTP/1.0 request (RFC 9112 §6.1)");
            }

            var codings = transferEncoding.Split(',');
            for (var i = 0; i < codings.Length; i++)
            {
                var coding = codings[i].Trim([' ', '\t']);
                var last = i == codings.Length - 1;
                if (coding.Equals("chunked", StringComparison.OrdinalIgnoreCase) ? !last
                    : last || !KnownCodings.Contains(coding, StringComparer.OrdinalIgnoreCase))
                {
                    return HeadParseResult.Rejected(400, "Transfer-Encoding must be a list of known codings ending in a single chunked (RFC 9112 §6.3)");
                }
            }

            chunked = true;
        }

        if (isConnect && (chunked || length > 0))
        {
            return HeadParseResult.Rejected(400, "a CONNECT request with content (RFC 9110 §9.3.6)");
        }

        return null;
    }
}
