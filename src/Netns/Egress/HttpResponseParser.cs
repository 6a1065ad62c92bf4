using System.Buffers;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Sandboxrun.Netns.Egress;

/// <summary>How the end of a message body is found (RFC 9112 §6.3).</summary>
public enum BodyFraming : byte
{
    /// <summary>No body: a response to HEAD, 1xx, 204, 304.</summary>
    None,

    /// <summary>Exactly Content-Length bytes.</summary>
    Length,

    /// <summary>Chunked transfer coding, ending with the zero-size chunk and the trailer section.</summary>
    Chunked,

    /// <summary>Everything until the server closes the connection: the client connection must close after it.</summary>
    UntilClose,
}

/// <summary>An upstream response head as the proxy needs it: status, fields, framing.</summary>
internal sealed class HttpResponseHead
{
    public required int Version { get; init; }

    public required int StatusCode { get; init; }

    /// <summary>The reason phrase, possibly empty.</summary>
    public required string Reason { get; init; }

    public required ImmutableArray<KeyValuePair<string, string>> Headers { get; init; }

    public required BodyFraming Framing { get; init; }

    public long ContentLength { get; init; }

    /// <summary>The server closes the connection after this response (Connection: close, or HTTP/1.0 without keep-alive).</summary>
    public required bool ServerCloses { get; init; }

    public required int HeadLength { get; init; }

    public bool IsInterim => StatusCode is >= 100 and < 200;
}

internal readonly record struct ResponseParseResult(HeadParseStatus Status, HttpResponseHead? Head, string Reason)
{
    public static readonly ResponseParseResult Incomplete = new(HeadParseStatus.Incomplete, null, "");

    public static ResponseParseResult Rejected(string reason) => new(HeadParseStatus.Rejected, null, reason);
}

/// <summary>
/// A strict HTTP/1.1 response-head parser. The upstream is a server the policy allowed, but its
/// bytes are still untrusted: a response the proxy and the agent's client could frame two ways
/// (response splitting) is refused, and the agent gets a 502 instead. Refused: line ends other
/// than CRLF, a status line not "HTTP/1.x DDD reason", obs-fold, field names that are not tokens,
/// controls in values, a repeated or malformed Content-Length, Transfer-Encoding together with
/// Content-Length (RFC 9112 §6.1 lets TE win; a proxy that forwards both hands the ambiguity on),
/// and heads over <see cref="MaxHeadBytes"/> or <see cref="MaxHeaderCount"/> fields.
/// </summary>
internal static class HttpResponseParser
{
    public const int MaxHeadBytes = 64 * 1024;
    public const int MaxHeaderCount = 200;

    /// <param name="requestMethod">The method of the request answered: a response to HEAD has no body.</param>
    public static ResponseParseResult Parse(in ReadOnlySequence<byte> buffer, string requestMethod)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySpan<byte> statusLine, (byte)'\n'))
        {
            return buffer.Length > MaxHeadBytes ? ResponseParseResult.Rejected("the response head is too large") : ResponseParseResult.Incomplete;
        }

        if (!TrimCr(ref statusLine))
        {
            return ResponseParseResult.Rejected("a line in the response head does not end in CRLF");
        }

        if (statusLine.Length < 12 || !statusLine.StartsWith("HTTP/1."u8) || statusLine[7] is not ((byte)'0' or (byte)'1')
            || statusLine[8] != (byte)' ' || !IsDigits(statusLine.Slice(9, 3)) || (statusLine.Length > 12 && statusLine[12] != (byte)' '))
        {
            return ResponseParseResult.Rejected("a malformed status line");
        }

        var version = statusLine[7] == (byte)'1' ? 11 : 10;
        var status = int.Parse(statusLine.Slice(9, 3), NumberStyles.None, CultureInfo.InvariantCulture);
        var reason = statusLine.Length > 13 ? statusLine[13..] : [];
        if (status < 100 || HttpSyntax.HasControls(reason))
        {
            return ResponseParseResult.Rejected("a malformed status line");
        }

        var headers = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>();
        string? contentLength = null;
        string? transferEncoding = null;
        var close = version == 10;
        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySpan<byte> line, (byte)'\n'))
            {
                return buffer.Length > MaxHeadBytes ? ResponseParseResult.Rejected("the response head is too large") : ResponseParseResult.Incomplete;
            }

            if (reader.Consumed > MaxHeadBytes)
            {
                return ResponseParseResult.Rejected("the response head is too large");
            }

            if (!TrimCr(ref line))
            {
                return ResponseParseResult.Rejected("a line in the response head does not end in CRLF");
            }

            if (line.IsEmpty)
            {
                break;
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !HttpSyntax.IsToken(line[..colon]))
            {
                return ResponseParseResult.Rejected("a response header line without a field name");
            }

            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (HttpSyntax.HasControls(value))
            {
                return ResponseParseResult.Rejected("a control character in a response header value");
            }

            if (headers.Count == MaxHeaderCount)
            {
                return ResponseParseResult.Rejected("too many response header fields");
            }

            var name = Encoding.ASCII.GetString(line[..colon]);
            var text = Encoding.Latin1.GetString(value);
            headers.Add(new(name, text));
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (contentLength is not null && contentLength != text)
                {
                    return ResponseParseResult.Rejected("conflicting Content-Length headers in the response");
                }

                contentLength = text;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                transferEncoding = transferEncoding is null ? text : transferEncoding + "," + text;
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var option in text.Split(',', StringSplitOptions.TrimEntries))
                {
                    if (option.Equals("close", StringComparison.OrdinalIgnoreCase))
                    {
                        close = true;
                    }
                    else if (option.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) && version == 10)
                    {
                        close = false;
                    }
                }
            }
        }

        BodyFraming framing;
        long length = 0;
        if (requestMethod == "HEAD" || status is < 200 or 204 or 304)
        {
            framing = BodyFraming.None;
        }
        else if (transferEncoding is not null)
        {
            if (contentLength is not null)
            {
                return ResponseParseResult.Rejected("both Transfer-Encoding and Content-Length in the response");
            }

            var codings = transferEncoding.Split(',', StringSplitOptions.TrimEntries);
            framing = codings[^1].Equals("chunked", StringComparison.OrdinalIgnoreCase) ? BodyFraming.Chunked : BodyFraming.UntilClose;
        }
        else if (contentLength is not null)
        {
            if (contentLength.Length is 0 or > 18 || contentLength.AsSpan().ContainsAnyExceptInRange('0', '9'))
            {
                return ResponseParseResult.Rejected("a response Content-Length that is not a single decimal number");
            }

            framing = BodyFraming.Length;
            length = long.Parse(contentLength, NumberStyles.None, CultureInfo.InvariantCulture);
        }
        else
        {
            framing = BodyFraming.UntilClose;
        }

        return new ResponseParseResult(HeadParseStatus.Parsed, new HttpResponseHead
        {
            Version = version,
            StatusCode = status,
            Reason = Encoding.Latin1.GetString(reason),
            Headers = headers.ToImmutable(),
            Framing = framing,
            ContentLength = length,
            ServerCloses = close || framing == BodyFraming.UntilClose,
            HeadLength = checked((int)reader.Consumed),
        }, "");
    }

    private static bool TrimCr(ref ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty || line[^1] != (byte)'\r')
        {
            return false;
        }

        line = line[..^1];
        return !line.Contains((byte)'\r');
    }

    private static bool IsDigits(ReadOnlySpan<byte> s) => !s.ContainsAnyExceptInRange((byte)'0', (byte)'9');
}
