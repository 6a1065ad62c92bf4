using System.Buffers;
using System.Net.Sockets;
using System.Text.Json;

namespace Sandboxrun.Control;

/// <summary>
/// The control socket of a running sandbox (STATE/control.sock). One request per connection:
/// a JSON object on one line, answered by one JSON line. Only the sandbox's owner (the uid that
/// started it) and root are served; anyone else is refused after SO_PEERCRED, before a byte is read.
///
///   sandboxrun ps                  {"op":"status"}                           -> name, pid, command, policy, uptime, counters
///   sandboxrun policy get NAME     {"op":"policy.get"}                       -> the policy text in force and its generation
///   sandboxrun policy apply NAME F {"op":"policy.apply","source":F,"text":…} -> swapped (generation, revoked) or errors, nothing changed
/// </summary>
internal sealed class ControlServer : IDisposable
{
    /// <summary>Largest request: a policy (4 MiB of YAML) quoted in JSON.</summary>
    internal const int MaxRequestBytes = 16 * 1024 * 1024;

    private readonly int _listener;
    private readonly Func<JsonElement, Action<Utf8JsonWriter>> _handle;
    private readonly uint _owner;
    private volatile bool _stopping;

    /// <param name="handle">Answers a request: returns what to write inside the reply object.</param>
    public ControlServer(string path, Func<JsonElement, Action<Utf8JsonWriter>> handle)
    {
        _handle = handle;
        _owner = Interop.Interop.Files.GetEuid();
        _listener = Interop.Interop.UnixServer.Listen(path, 16);
        try
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // the directory is 0700 too
        }
        catch
        {
            Interop.Interop.Files.Close(_listener);
            throw;
        }
    }

    /// <summary>
    /// Serves on one dedicated thread with blocking calls on plain file descriptors: requests are
    /// rare and short, and neither the thread pool nor the framework's socket event loop has to
    /// start for a sandbox nobody queries (they would cost every start).
    /// </summary>
    public void Start() => new Thread(AcceptLoop) { IsBackground = true, Name = "sandboxrun control" }.Start();

    private void AcceptLoop()
    {
        try
        {
            Serve();
        }
        finally
        {
            Interop.Interop.Files.Close(_listener);
        }
    }

    private void Serve()
    {
        while (!_stopping)
        {
            int client = Interop.Interop.UnixServer.Accept(_listener);
            if (client < 0)
            {
                if (_stopping || client != -4 /* EINTR */ && client != -103 /* ECONNABORTED */ && client != -24 /* EMFILE */)
                    return;
                continue;
            }
            try
            {
                Answer(client);
            }
            finally
            {
                Interop.Interop.Files.Close(client);
            }
        }
    }

    private void Answer(int client)
    {
        Interop.Interop.UnixServer.SetTimeouts(client, 10);
        uint? peer = Interop.Interop.UnixServer.PeerUid(client);
        if (peer is not { } uid || uid != _owner && uid != 0)
        {
            Reply(client, Error($"uid {peer?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} may not control this sandbox"));
            return;
        }
        byte[]? line;
        try
        {
            line = ReadLine(buffer => Interop.Interop.UnixServer.ReadSome(client, buffer));
        }
        catch (IOException)
        {
            return; // more than MaxRequestBytes: no answer
        }
        if (line is null)
            return;
        Action<Utf8JsonWriter> answer;
        try
        {
            using JsonDocument request = JsonDocument.Parse(line);
            answer = request.RootElement.ValueKind == JsonValueKind.Object
                ? _handle(request.RootElement)
                : Error("the request is not a JSON object");
        }
        catch (JsonException e)
        {
            answer = Error("the request is not valid JSON: " + e.Message);
        }
        Reply(client, answer);
    }

    private static void Reply(int fd, Action<Utf8JsonWriter> body) =>
        Interop.Interop.UnixServer.SendAll(fd, Serialize(body).WrittenSpan);

    internal static ArrayBufferWriter<byte> Serialize(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        buffer.Write("\n"u8);
        return buffer;
    }

    internal static Action<Utf8JsonWriter> Error(string message) => w =>
    {
        w.WriteBoolean("ok", false);
        w.WriteString("error", message);
    };

    /// <summary>
    /// One line, at most <see cref="MaxRequestBytes"/>, through <paramref name="read"/> (bytes read,
    /// 0 at end, negative on an error or timeout); null when nothing came, IOException when too much did.
    /// </summary>
    internal static byte[]? ReadLine(Func<byte[], int> read)
    {
        var data = new MemoryStream();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (data.Length <= MaxRequestBytes)
            {
                int n = read(buffer);
                if (n <= 0)
                    return n == 0 && data.Length > 0 ? data.ToArray() : null;
                int lf = Array.IndexOf(buffer, (byte)'\n', 0, n);
                data.Write(buffer, 0, lf < 0 ? n : lf);
                if (lf >= 0)
                    return data.ToArray();
            }
            throw new IOException("request too large");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        _stopping = true;
        // Wakes the blocked accept(2) (EINVAL; closing alone would not); the accept thread closes
        // the fd as it leaves, so its number cannot be reused under a call still in progress.
        Interop.Interop.Sockets.ShutdownBoth(_listener);
    }
}

/// <summary>The client side: one request, one reply.</summary>
internal static class ControlClient
{
    /// <summary>The reply, or null and a message when the sandbox cannot be reached.</summary>
    public static (JsonDocument? Reply, string? Error) Call(string name, Action<Utf8JsonWriter> request, TimeSpan? timeout = null)
    {
        string path = SandboxState.ControlPathOf(RuntimeDirectory.Of(name));
        if (!File.Exists(path))
            return (null, $"no running sandbox named '{name}' (no {path})");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            ArrayBufferWriter<byte> buffer = ControlServer.Serialize(request);
            socket.ReceiveTimeout = (int)(timeout ?? TimeSpan.FromSeconds(30)).TotalMilliseconds;
            using var stream = new NetworkStream(socket, ownsSocket: false);
            try
            {
                stream.Write(buffer.WrittenSpan);
            }
            catch (IOException)
            {
                // A refused peer is answered and closed before its request is read: the answer is still there to read.
            }
            byte[]? line = ControlServer.ReadLine(buffer => stream.Read(buffer));
            return line is null ? (null, $"sandbox '{name}' closed the control connection without answering") : (JsonDocument.Parse(line), null);
        }
        catch (Exception e) when (e is SocketException or IOException or JsonException)
        {
            return (null, $"sandbox '{name}' ({path}): {e.Message}");
        }
    }

    public static string Text(this JsonElement e, string property) =>
        e.TryGetProperty(property, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
}
