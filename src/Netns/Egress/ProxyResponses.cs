using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sandboxrun.Netns.Egress;

/// <summary>
/// The proxy's own answers, as complete HTTP/1.1 responses: JSON bodies, <c>Content-Type:
/// application/json</c>, <c>Connection: close</c> (the connection is closed after every one of
/// them, so nothing the client sent after a refused head is ever read as a request), and
/// <c>Cache-Control: no-store</c>. Bodies never contain the query string, and path segments that
/// look like credentials are redacted (<see cref="Redaction"/>).
/// </summary>
internal static class ProxyResponses
{
    /// <summary>403 <c>policy_denied</c> for a request or CONNECT the policy refused.</summary>
    public static byte[] PolicyDenied(EgressDecision decision, EgressRequest request)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(request);
        return Json(403, "Forbidden", w =>
        {
            w.WriteString("error", "policy_denied");
            WriteNullable(w, "policy", decision.Policy);
            WriteNullable(w, "rule", decision.Rule);
            w.WriteString("detail", decision.Detail);
            w.WriteString("layer", decision.Layer == EgressLayer.L4 ? "l4" : "l7");
            w.WriteString("protocol", request.Layer == EgressLayer.L4 ? "connect" : "http");
            WriteNullable(w, "method", request.Layer == EgressLayer.L4 ? "CONNECT" : request.Method);
            WriteNullable(w, "path", request.Layer == EgressLayer.L4 ? null : Redaction.Path(decision.NormalizedPath ?? request.Path));
            w.WriteString("host", decision.Host);
            w.WriteNumber("port", decision.Port);
            w.WriteString("binary", request.Binary.Path);
            WriteNullable(w, "binary_sha256", request.Binary.Sha256);
        });
    }

    /// <summary>403 <c>ssrf_denied</c>: the policy allowed the name but it resolves to an address the guard refuses. The address itself is not disclosed.</summary>
    public static byte[] SsrfDenied(EgressDecision decision, DestinationVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(decision);
        return Json(403, "Forbidden", w =>
        {
            w.WriteString("error", "ssrf_denied");
            w.WriteString("detail", verdict.Detail);
            w.WriteString("address_class", ClassName(verdict.Class));
            w.WriteString("host", decision.Host);
            w.WriteNumber("port", decision.Port);
        });
    }

    /// <summary>The answer to a head the parser refused: 400, 414 or 431.</summary>
    public static byte[] ParseRejected(in HeadParseResult result)
    {
        var (error, reason) = result.StatusCode switch
        {
            414 => ("uri_too_long", "URI Too Long"),
            431 => ("request_header_fields_too_large", "Request Header Fields Too Large"),
            _ => ("bad_request", "Bad Request"),
        };
        var status = result.StatusCode is 414 or 431 ? result.StatusCode : 400;
        var detail = result.Reason;
        return Json(status, reason, w =>
        {
            w.WriteString("error", error);
            w.WriteString("detail", detail);
        });
    }

    /// <summary>400 for a request the proxy cannot serve for another reason.</summary>
    public static byte[] BadRequest(string detail) => Json(400, "Bad Request", w =>
    {
        w.WriteString("error", "bad_request");
        w.WriteString("detail", detail);
    });

    /// <summary>502 <c>upstream_unreachable</c>: connecting upstream failed or timed out.</summary>
    public static byte[] UpstreamUnreachable(string host, int port, string detail) => Json(502, "Bad Gateway", w =>
    {
        w.WriteString("error", "upstream_unreachable");
        w.WriteString("detail", detail);
        w.WriteString("host", host);
        w.WriteNumber("port", port);
    });

    private static string ClassName(AddressClass c) => c switch
    {
        AddressClass.Public => "public",
        AddressClass.Loopback => "loopback",
        AddressClass.LinkLocal => "link_local",
        AddressClass.CloudMetadata => "cloud_metadata",
        AddressClass.Unspecified => "unspecified",
        AddressClass.Multicast => "multicast",
        AddressClass.Broadcast => "broadcast",
        AddressClass.Private => "private",
        AddressClass.SharedAddressSpace => "shared_address_space",
        AddressClass.UniqueLocal => "unique_local",
        AddressClass.SiteLocal => "site_local",
        AddressClass.Reserved => "reserved",
        _ => "unknown",
    };

    private static void WriteNullable(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }

    private static byte[] Json(int status, string reason, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        var head = string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {buffer.WrittenCount}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n");
        var response = new byte[Encoding.ASCII.GetByteCount(head) + buffer.WrittenCount];
        var written = Encoding.ASCII.GetBytes(head, response);
        buffer.WrittenSpan.CopyTo(response.AsSpan(written));
        return response;
    }
}
