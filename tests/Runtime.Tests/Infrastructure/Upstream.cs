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

    public int Accepts => _accepts;

    private int _accepts;

    public string Body { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public IPAddress Address { get; }

    public Upstream(IPAddress address, string body = "hello-upstream")
    {
        Address = address;
        Body = body;
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
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    NetworkStream s = client.GetStream();
                    var head = new StringBuilder();
                    var buf = new byte[1];
                    while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await s.ReadAsync(buf) == 1)
                        head.Append((char)buf[0]);
                    Heads.Enqueue(head.ToString());
                    byte[] reply = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {Body.Length}\r\nConnection: close\r\n\r\n{Body}");
                    await s.WriteAsync(reply);
                }
            });
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
