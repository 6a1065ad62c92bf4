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

    private readonly Socket _listener;
    private readonly Func<JsonElement, Action<Utf8JsonWriter>> _handle;
    private readonly uint _owner;
    private volatile bool _stopping;

    /// <param name="handle">Answers a request: returns what to write inside the reply object.</param>
    public ControlServer(string path, Func<JsonElement, Action<Utf8JsonWriter>> handle)
    {
        _handle = handle;
        _owner = Interop.Interop.Files.GetEuid();
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            _listener.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            _listener.Listen(16);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Serves on one dedicated thread with blocking calls: requests are rare and short, and
    /// neither the thread pool nor the socket event loop has to start for a sandbox nobody queries.
    /// </summary>
    public void Start() => new Thread(AcceptLoop) { IsBackground = true, Name = "sandboxrun control" }.Start();

    private void AcceptLoop()
    {
        while (!_stopping)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                if (_stopping)
                    return;
                continue;
            }
            Serve(client);
        }
    }

    private void Serve(Socket client)
    {
        using Socket _ = client;
        client.ReceiveTimeout = 10_000;
        client.SendTimeout = 10_000;
        using var stream = new NetworkStream(client, ownsSocket: false);
        try
        {
            uint? peer = PeerUid(client);
            if (peer is not { } uid || uid != _owner && uid != 0)
            {
                Reply(stream, Error($"uid {peer?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} may not control this sandbox"));
                return;
            }
            byte[]? line = ReadLine(stream);
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
            Reply(stream, answer);
        }
        catch (IOException)
        {
        }
        catch (SocketException)
        {
        }
    }

    internal static Action<Utf8JsonWriter> Error(string message) => w =>
    {
        w.WriteBoolean("ok", false);
        w.WriteString("error", message);
    };

    private static void Reply(Stream stream, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        buffer.Write("\n"u8);
        stream.Write(buffer.WrittenSpan);
    }

    /// <summary>One line, at most <see cref="MaxRequestBytes"/>; null when the peer sent none. Blocking (the socket's timeouts bound it).</summary>
    internal static byte[]? ReadLine(Stream stream)
    {
        var data = new MemoryStream();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (data.Length <= MaxRequestBytes)
            {
                int n = stream.Read(buffer);
                if (n == 0)
                    return data.Length == 0 ? null : data.ToArray();
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

    /// <summary>SO_PEERCRED: the uid of the process that connected (struct ucred { pid, uid, gid }).</summary>
    private static uint? PeerUid(Socket socket)
    {
        Span<byte> ucred = stackalloc byte[12];
        const int SolSocket = 1, SoPeerCred = 17;
        return socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred) == 12
            ? BitConverter.ToUInt32(ucred[4..8])
            : null;
    }

    public void Dispose()
    {
        _stopping = true;
        // Wakes the blocked accept (close alone does not interrupt accept(2) on Linux).
        try
        {
            _listener.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        _listener.Dispose();
    }
}

/// <summary>The client side: one request, one reply.</summary>
internal static class ControlClient
{
    /// <summary>The reply, or null and a message when the sandbox cannot be reached.</summary>
    public static (JsonDocument? Reply, string? Error) Call(string name, Action<Utf8JsonWriter> request, TimeSpan? timeout = null)
    {
        string path = Path.Combine(RuntimeDirectory.Of(name), "control.sock");
        if (!File.Exists(path))
            return (null, $"no running sandbox named '{name}' (no {path})");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            var buffer = new ArrayBufferWriter<byte>(1024);
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                request(w);
                w.WriteEndObject();
            }
            buffer.Write("\n"u8);
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
            byte[]? line = ControlServer.ReadLine(stream);
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
