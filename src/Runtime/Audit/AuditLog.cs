using System.Buffers;
using System.Text.Json;

namespace Sandboxrun.Audit;

/// <summary>
/// One JSON object per line for every decision, lifecycle step and reload (DESIGN.md, "audit").
/// Written with Utf8JsonWriter (no reflection), flushed per event, safe from any thread.
/// Values pass through <see cref="Redaction"/> first: secrets never reach the log.
/// </summary>
internal sealed class AuditLog : IDisposable
{
    private readonly (Stream Stream, bool Owned)[] _sinks;
    private readonly string _sandbox;
    private readonly Lock _lock = new();

    private AuditLog((Stream, bool)[] sinks, string sandbox) => (_sinks, _sandbox) = (sinks, sandbox);

    /// <summary>Every event goes to each target: "-" is standard error; anything else a file appended to (created 0600).</summary>
    public static AuditLog Open(IEnumerable<string> targets, string sandbox)
    {
        var sinks = new List<(Stream, bool)>();
        try
        {
            foreach (string target in targets)
                sinks.Add(target == "-" ? (Console.OpenStandardError(), false) : (OpenFile(target), true));
        }
        catch
        {
            foreach ((Stream s, bool owned) in sinks)
                if (owned)
                    s.Dispose();
            throw;
        }
        return new AuditLog([.. sinks], sandbox);
    }

    public static AuditLog Open(string target, string sandbox) => Open([target], sandbox);

    private static FileStream OpenFile(string target) => new(target, new FileStreamOptions
    {
        Mode = FileMode.Append,
        Access = FileAccess.Write,
        Share = FileShare.ReadWrite,
        UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
    });

    /// <summary>Writes one event: the common fields, then <paramref name="fields"/> (string, long, bool or null values).</summary>
    public void Write(string evt, params (string Key, object? Value)[] fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("time", DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("sandbox", _sandbox);
            w.WriteString("event", evt);
            foreach ((string key, object? value) in fields)
            {
                switch (value)
                {
                    case null:
                        w.WriteNull(key);
                        break;
                    case string s:
                        w.WriteString(key, Redaction.Redact(s));
                        break;
                    case bool b:
                        w.WriteBoolean(key, b);
                        break;
                    case int i:
                        w.WriteNumber(key, i);
                        break;
                    case long l:
                        w.WriteNumber(key, l);
                        break;
                    case double d:
                        w.WriteNumber(key, d);
                        break;
                    case IEnumerable<string> list:
                        w.WriteStartArray(key);
                        foreach (string item in list)
                            w.WriteStringValue(Redaction.Argument(item));
                        w.WriteEndArray();
                        break;
                    default:
                        w.WriteString(key, Redaction.Redact(value.ToString() ?? ""));
                        break;
                }
            }
            w.WriteEndObject();
        }
        buffer.Write("\n"u8);
        lock (_lock)
        {
            foreach ((Stream stream, _) in _sinks)
            {
                stream.Write(buffer.WrittenSpan);
                stream.Flush();
            }
        }
    }

    public void Dispose()
    {
        foreach ((Stream stream, bool owned) in _sinks)
            if (owned)
                stream.Dispose();
    }
}
