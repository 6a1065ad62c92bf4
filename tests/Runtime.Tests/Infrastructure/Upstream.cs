using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sandboxrun.Tests.Infrastructure;

/// <summary>
/// An HTTP server on the host side that records every connection and the exact bytes of each
/// request head, and answers 200 with a fixed body. Also serves as a canary: Accepts == 0 means
/// nothing reached it.
/// </summary>
public sealed class Upstream : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();

    public ConcurrentQueue<string> Heads { get; } = new();

    public ConcurrentQueue<string> Bodies { get; } = new();

    public int Accepts => _accepts;

    private int _accepts;

    public string Body { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public IPAddress Address { get; }

    private readonly string? _files;

    /// <param name="files">When set, GET /PATH answers with the file under this directory (404 if none), as a static file server.</param>
    public Upstream(IPAddress address, string body = "hello-upstream", string? files = null)
    {
        Address = address;
        Body = body;
        _files = files;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        _ = Task.Run(Loop);
    }

    private async Task Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            Interlocked.Increment(ref _accepts);
            _ = Task.Run(() => Serve(client));
        }
    }

    /// <summary>
    /// Requests one after another on the connection (keep-alive) until the client closes or asks to.
    /// Paths starting /chunked answer with a chunked body; /close answers and closes without
    /// announcing it in advance; /stall never answers; anything else with Content-Length.
    /// </summary>
    private async Task Serve(TcpClient client)
    {
        using (client)
        {
            NetworkStream s = client.GetStream();
            try
            {
                while (true)
                {
                    var head = new StringBuilder();
                    var buf = new byte[1];
                    while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await s.ReadAsync(buf) == 1)
                        head.Append((char)buf[0]);
                    if (head.Length == 0)
                        return;
                    string text = head.ToString();
                    Heads.Enqueue(text);
                    string? length = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
                    if (length is not null)
                    {
                        var body = new byte[int.Parse(length["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)];
                        await s.ReadExactlyAsync(body);
                        Bodies.Enqueue(Encoding.ASCII.GetString(body));
                    }
                    if (text.Contains("\r\nUpgrade: websocket", StringComparison.OrdinalIgnoreCase))
                    {
                        // Switches protocols, then echoes raw bytes until the client closes.
                        await s.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
                        var echo = new byte[4096];
                        int n;
                        while ((n = await s.ReadAsync(echo)) > 0)
                            await s.WriteAsync(echo.AsMemory(0, n));
                        return;
                    }
                    bool close = text.Contains("\r\nConnection: close", StringComparison.OrdinalIgnoreCase);
                    string path = text.Split(' ')[1];
                    if (path.StartsWith("/ambiguous", StringComparison.Ordinal))
                    {
                        // Framed two ways (RFC 9112 §6.1): a proxy that passed it on would let the
                        // agent's client and the proxy disagree on where the next response starts.
                        await s.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"));
                        return;
                    }
                    if (path.StartsWith("/stall", StringComparison.Ordinal))
                    {
                        // Never answers: holds the connection until the other end closes it.
                        while (await s.ReadAsync(buf) > 0)
                        {
                        }
                        return;
                    }
                    if (path.StartsWith("/big/", StringComparison.Ordinal))
                    {
                        byte[] big = Pattern(int.Parse(path[5..], System.Globalization.CultureInfo.InvariantCulture));
                        await s.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {big.Length}\r\n\r\n"));
                        await s.WriteAsync(big);
                        continue;
                    }
                    if (_files is not null)
                    {
                        string file = Path.GetFullPath(Path.Combine(_files, Uri.UnescapeDataString(path.Split('?')[0]).TrimStart('/')));
                        byte[] content = file.StartsWith(_files, StringComparison.Ordinal) && File.Exists(file) ? File.ReadAllBytes(file) : [];
                        string status = content.Length > 0 || File.Exists(file) ? "200 OK" : "404 Not Found";
                        await s.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Length: {content.Length}\r\n\r\n"));
                        await s.WriteAsync(content);
                        continue;
                    }
                    string reply = path.StartsWith("/chunked", StringComparison.Ordinal)
                        ? $"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{Body.Length:x}\r\n{Body}\r\n0\r\n\r\n"
                        : path.StartsWith("/close", StringComparison.Ordinal)
                        ? $"HTTP/1.1 200 OK\r\n\r\n{Body}"
                        : $"HTTP/1.1 200 OK\r\nContent-Length: {Body.Length}\r\n{(close ? "Connection: close\r\n" : "")}\r\n{Body}";
                    await s.WriteAsync(Encoding.ASCII.GetBytes(reply));
                    if (close || path.StartsWith("/close", StringComparison.Ordinal))
                        return;
                }
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>The deterministic bytes /big/N answers with.</summary>
    public static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
            bytes[i] = (byte)(i * 7 + i / 251);
        return bytes;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
