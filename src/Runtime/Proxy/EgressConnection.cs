using System.Buffers;
using System.Collections.Immutable;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Sandboxrun.Netns.Egress;

namespace Sandboxrun.Proxy;

/// <summary>
/// One agent connection to the proxy. Every request on it is decided on its own, by the policy in
/// force when its head is complete, for the processes holding the socket at that moment.
///
///   agent                      EgressConnection                       upstream
///     | -- head 1 ------------> | [a] parse, identify, decide           |
///     |                         | [b] dial (or reuse the open link      |
///     |                         |     to the same host:port)  --------> |
///     |                         | [c] head + exactly its body --------> |
///     | <-- 1xx*, head, body -- | [d] response framed by its head <---- |
///     | -- head 2 ------------> | [a] again: a new decision             |
///     | -- CONNECT h:p -------> | [a] decide, [b] dial, 200, [e] relay raw bytes until either side ends
///
/// A denial answers 403 with Connection: close and ends the connection. A policy reload re-checks
/// what is in flight (a tunnel, an upgraded connection, a request) and revokes it when the new
/// policy no longer allows it; an idle kept-alive connection keeps going, its next request decided
/// by the new policy.
/// </summary>
internal sealed class EgressConnection
{
    /// <summary>Time for the first request head to arrive in full.</summary>
    internal static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Time a kept-alive connection may wait for its next request head.</summary>
    internal static readonly TimeSpan KeepAliveIdle = TimeSpan.FromSeconds(120);

    /// <summary>Time an upstream may take to start its response (model APIs can think for minutes).</summary>
    internal static readonly TimeSpan ResponseTimeout = TimeSpan.FromMinutes(10);

    /// <summary>A tunnel, an upgraded connection or a body in transit with no byte either way for this long is closed.</summary>
    internal static readonly TimeSpan TransferIdle = TimeSpan.FromMinutes(10);

    internal static readonly StreamPipeReaderOptions PipeOptions = new(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024);

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Upgrade", "Expect",
    };

    private readonly EgressServer _server;
    private readonly Socket _client;
    private readonly CancellationTokenSource _revoked;
    private InFlight? _inFlight;

    /// <summary>The open connection upstream for plain requests, reused while requests go to its host and port.</summary>
    private Upstream? _link;

    public EgressConnection(EgressServer server, Socket client, long id, CancellationToken stop)
    {
        _server = server;
        _client = client;
        Id = id;
        _revoked = CancellationTokenSource.CreateLinkedTokenSource(stop);
    }

    public long Id { get; }

    /// <summary>What this connection is carrying now (a request, tunnel or upgraded stream), for re-checks on reload.</summary>
    public InFlight? Current => Volatile.Read(ref _inFlight);

    /// <summary>Ends the connection: the policy in force no longer allows what it carries.</summary>
    public void Revoke()
    {
        try
        {
            _revoked.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async Task Serve()
    {
        await using var stream = new NetworkStream(_client, ownsSocket: false);
        PipeReader reader = PipeReader.Create(stream, PipeOptions);
        try
        {
            for (int sequence = 1; ; sequence++)
            {
                if (!await ServeOne(reader, stream, sequence).ConfigureAwait(false))
                    return;
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        catch (SocketException)
        {
        }
        finally
        {
            Volatile.Write(ref _inFlight, null);
            await DropLink().ConfigureAwait(false);
            await reader.CompleteAsync().ConfigureAwait(false);
            await LingeringClose().ConfigureAwait(false);
            _revoked.Dispose();
            _client.Dispose();
        }
    }

    /// <summary>
    /// Closing a socket with unread input sends RST, and an RST can make the agent's kernel drop
    /// the answer it has not read yet (a 403 behind which the agent had pipelined more). So the
    /// proxy half-closes, then reads and discards what the agent still sends, until it closes,
    /// for at most a second and 1 MiB.
    /// </summary>
    private async Task LingeringClose()
    {
        try
        {
            _client.Shutdown(SocketShutdown.Send);
            using var linger = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            byte[] sink = new byte[16 * 1024];
            for (long drained = 0; drained < 1 << 20;)
            {
                int n = await _client.ReceiveAsync(sink, SocketFlags.None, linger.Token).ConfigureAwait(false);
                if (n == 0)
                    return;
                drained += n;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>One request (or the tunnel that ends the connection); false when the connection is done.</summary>
    private async Task<bool> ServeOne(PipeReader reader, Stream client, int sequence)
    {
        HeadParseResult parsed;
        using (var headTimeout = CancellationTokenSource.CreateLinkedTokenSource(_revoked.Token))
        {
            headTimeout.CancelAfter(sequence == 1 ? HeadTimeout : KeepAliveIdle);
            ReadResult read;
            while (true)
            {
                read = await reader.ReadAsync(headTimeout.Token).ConfigureAwait(false);
                parsed = HttpHeadParser.Parse(read.Buffer);
                if (parsed.Status != HeadParseStatus.Incomplete || read.IsCompleted)
                    break;
                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
            if (read.Buffer.IsEmpty && read.IsCompleted)
                return false; // the agent closed between requests
            if (parsed.Head is { } h)
                reader.AdvanceTo(read.Buffer.GetPosition(h.HeadLength));
            else
                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        // [a] Identified when the head is complete, not at accept: a process that got the socket
        // in between (fork, SCM_RIGHTS) is among the holders judged.
        Holders holders = _server.Identify(_client);
        if (parsed.Status == HeadParseStatus.Rejected)
        {
            _server.Log("egress.rejected", null, holders, ("conn", Id), ("request", sequence), ("status", parsed.StatusCode), ("detail", parsed.Reason));
            await client.WriteAsync(ProxyResponses.ParseRejected(parsed), _revoked.Token).ConfigureAwait(false);
            return false;
        }
        if (parsed.Head is not HttpRequestHead head)
            return false; // the connection ended inside a head

        EgressRequest request = head.ToEgressRequest(holders.First.Binary, holders.First.Ancestors);
        // Published before the policy is read: a reload that swaps the policy after this read
        // finds the request here and re-checks it (EgressServer.Swap writes, then scans).
        var inFlight = new InFlight(request, holders, head.IsConnect ? "tunnel" : "request", sequence);
        Volatile.Write(ref _inFlight, inFlight);
        EgressDecision decision = _server.Decide(request, holders);
        _server.Log("egress.decision", decision, holders, ("conn", Id), ("request", sequence), ("method", head.Method),
            ("path", head.IsConnect ? null : Redaction.Path(head.Path)));
        if (!decision.IsAllowed)
        {
            await client.WriteAsync(ProxyResponses.PolicyDenied(decision, request), _revoked.Token).ConfigureAwait(false);
            return false;
        }

        long started = Stopwatch.GetTimestamp();
        var outcome = new Outcome();
        bool keep = false;
        try
        {
            if (head.IsConnect)
            {
                await DropLink().ConfigureAwait(false);
                await using Upstream? tunnel = await _server.Dial(decision, client, _revoked.Token).ConfigureAwait(false); // [b]
                if (tunnel is null)
                    return false;
                await client.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray(), _revoked.Token).ConfigureAwait(false);
                outcome.Status = 200;
                await Tunnel(reader, client, tunnel, outcome).ConfigureAwait(false); // [e]
                return false;
            }

            if (_link is not null && !_link.Serves(decision.Host, decision.Port))
                await DropLink().ConfigureAwait(false);
            _link ??= await _server.Dial(decision, client, _revoked.Token).ConfigureAwait(false); // [b]
            if (_link is null)
                return false;
            keep = await Exchange(reader, client, head, decision, _link, outcome).ConfigureAwait(false); // [c] [d]
            if (outcome.Status is null || !keep || _link.Closing)
                await DropLink().ConfigureAwait(false);
            return keep;
        }
        finally
        {
            Volatile.Write(ref _inFlight, null);
            _server.Log("egress.end", decision, holders, ("conn", Id), ("request", sequence), ("method", head.Method),
                ("path", head.IsConnect ? null : Redaction.Path(decision.NormalizedPath ?? head.Path)), ("status", outcome.Status),
                ("bytes_up", outcome.Up), ("bytes_down", outcome.Down), ("duration_ms", (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds),
                ("revoked", _revoked.IsCancellationRequested && !_server.Stopping));
        }
    }

    private async Task DropLink()
    {
        if (_link is { } link)
        {
            _link = null;
            await link.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// [c] [d]: one request and its response. Returns whether the agent's connection may carry
    /// another request; the final status is in <paramref name="outcome"/> once its head reached the
    /// agent (none: no response), so a transfer cut short is still logged with the status it had.
    /// </summary>
    private async Task<bool> Exchange(PipeReader reader, Stream client, HttpRequestHead head, EgressDecision decision, Upstream link, Outcome outcome)
    {
        bool upgrade = IsWebSocketUpgrade(head);
        bool expectContinue = head.Headers.Any(h => h.Key.Equals("Expect", StringComparison.OrdinalIgnoreCase)
            && h.Value.Equals("100-continue", StringComparison.OrdinalIgnoreCase));
        byte[] upstreamHead = UpstreamHead(head, decision.NormalizedPath ?? head.Path, upgrade);
        using var idle = new IdleTimer(_revoked.Token, TransferIdle);
        await link.Stream.WriteAsync(upstreamHead, idle.Token).ConfigureAwait(false);
        outcome.AddUp(upstreamHead.Length);
        if (expectContinue) // answered here; the upstream gets the body with the head
            await client.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), idle.Token).ConfigureAwait(false);
        outcome.AddUp(await MessageBody.Copy(reader, link.Stream, head.Chunked ? BodyFraming.Chunked : head.ContentLength is null ? BodyFraming.None : BodyFraming.Length,
            head.ContentLength ?? 0, idle.Token, _ => idle.Touch()).ConfigureAwait(false));

        while (true)
        {
            HttpResponseHead? response = await ReadResponseHead(link, head.Method).ConfigureAwait(false);
            if (response is null)
            {
                await client.WriteAsync(ProxyResponses.UpstreamUnreachable(decision.Host, decision.Port, "the upstream sent no valid response"), _revoked.Token).ConfigureAwait(false);
                return false;
            }
            idle.Touch();
            if (response.StatusCode == 101)
            {
                if (!upgrade)
                    throw new IOException("101 Switching Protocols without an upgrade request");
                byte[] switching = ClientHead(response, close: false, keepUpgrade: true);
                await client.WriteAsync(switching, _revoked.Token).ConfigureAwait(false);
                outcome.AddDown(switching.Length);
                outcome.Status = 101;
                Volatile.Write(ref _inFlight, Volatile.Read(ref _inFlight) is { } f ? f with { Kind = "upgraded" } : null);
                await Relay(reader, client, link, outcome).ConfigureAwait(false);
                return false;
            }
            bool clientCloses = head.Version == 10 || ConnectionOption(head.Headers, "close");
            bool keep = !response.IsInterim && !clientCloses && response.Framing != BodyFraming.UntilClose;
            byte[] clientHead = ClientHead(response, close: !response.IsInterim && !keep, keepUpgrade: false);
            await client.WriteAsync(clientHead, idle.Token).ConfigureAwait(false);
            outcome.AddDown(clientHead.Length);
            if (response.IsInterim)
                continue;
            outcome.Status = response.StatusCode;
            link.Closing |= response.ServerCloses;
            outcome.AddDown(await MessageBody.Copy(link.Reader, client, response.Framing, response.ContentLength, idle.Token, _ => idle.Touch()).ConfigureAwait(false));
            return keep;
        }
    }

    private async Task<HttpResponseHead?> ReadResponseHead(Upstream link, string method)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_revoked.Token);
        timeout.CancelAfter(ResponseTimeout);
        while (true)
        {
            ReadResult read = await link.Reader.ReadAsync(timeout.Token).ConfigureAwait(false);
            ResponseParseResult parsed = HttpResponseParser.Parse(read.Buffer, method);
            if (parsed.Head is { } head)
            {
                link.Reader.AdvanceTo(read.Buffer.GetPosition(head.HeadLength));
                return head;
            }
            if (parsed.Status == HeadParseStatus.Rejected || read.IsCompleted)
            {
                link.Reader.AdvanceTo(read.Buffer.End);
                link.Closing = true;
                return null;
            }
            link.Reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    /// <summary>[e] A CONNECT tunnel: what the agent already sent goes first, then splice(2) moves the rest (managed copies where it cannot).</summary>
    private async Task Tunnel(PipeReader fromClient, Stream client, Upstream upstream, Outcome outcome)
    {
        // An agent that has already closed its side needs nothing more here: splice reads the
        // socket again and sees the end of input too.
        if (fromClient.TryRead(out ReadResult early))
        {
            foreach (ReadOnlyMemory<byte> segment in early.Buffer)
                await upstream.Stream.WriteAsync(segment, _revoked.Token).ConfigureAwait(false);
            outcome.AddUp(early.Buffer.Length);
            fromClient.AdvanceTo(early.Buffer.End);
        }
        using var idle = new IdleTimer(_revoked.Token, TransferIdle);
        Task? spliced = SpliceRelay.Start(_client, upstream.Socket, idle.Token, n => { outcome.AddUp(n); idle.Touch(); }, n => { outcome.AddDown(n); idle.Touch(); });
        if (spliced is null)
            await Relay(fromClient, client, upstream, outcome).ConfigureAwait(false);
        else
            await spliced.ConfigureAwait(false);
    }

    /// <summary>[e] Both directions until both ends have finished; a half-close is passed on. No byte either way for <see cref="TransferIdle"/> ends it.</summary>
    private async Task Relay(PipeReader fromClient, Stream client, Upstream upstream, Outcome outcome)
    {
        using var idle = new IdleTimer(_revoked.Token, TransferIdle);
        Task up = Direction(fromClient, upstream.Stream, upstream.Socket, n => { outcome.AddUp(n); idle.Touch(); });
        Task down = Direction(upstream.Reader, client, _client, n => { outcome.AddDown(n); idle.Touch(); });
        try
        {
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        finally
        {
            idle.Cancel(); // one side failed: stop the other
        }

        async Task Direction(PipeReader from, Stream to, Socket toSocket, Action<long> progress)
        {
            try
            {
                await MessageBody.CopyToEnd(from, to, idle.Token, progress).ConfigureAwait(false);
                toSocket.Shutdown(SocketShutdown.Send);
            }
            catch
            {
                idle.Cancel();
                throw;
            }
        }
    }

    private static bool IsWebSocketUpgrade(HttpRequestHead head) =>
        head.Method == "GET" && ConnectionOption(head.Headers, "upgrade")
        && head.Headers.Any(h => h.Key.Equals("Upgrade", StringComparison.OrdinalIgnoreCase) && h.Value.Equals("websocket", StringComparison.OrdinalIgnoreCase));

    private static bool ConnectionOption(ImmutableArray<KeyValuePair<string, string>> headers, string option) =>
        headers.Any(h => (h.Key.Equals("Connection", StringComparison.OrdinalIgnoreCase) || h.Key.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase))
            && h.Value.Split(',', StringSplitOptions.TrimEntries).Contains(option, StringComparer.OrdinalIgnoreCase));

    /// <summary>Fields the Connection header names are hop-by-hop too (RFC 9110 §7.6.1).</summary>
    private static HashSet<string> Dropped(ImmutableArray<KeyValuePair<string, string>> headers)
    {
        var dropped = new HashSet<string>(HopByHop, StringComparer.OrdinalIgnoreCase);
        foreach (KeyValuePair<string, string> h in headers)
        {
            if (h.Key.Equals("Connection", StringComparison.OrdinalIgnoreCase))
                dropped.UnionWith(h.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        }
        return dropped;
    }

    /// <summary>The request in origin-form for the upstream, hop-by-hop fields dropped. The path sent is the one the decision judged (normalised), never the raw one.</summary>
    internal static byte[] UpstreamHead(HttpRequestHead head, string path, bool upgrade)
    {
        var text = new StringBuilder(256);
        text.Append(head.Method).Append(' ').Append(path);
        if (head.Query is not null)
            text.Append('?').Append(head.Query);
        text.Append(head.Version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
        text.Append("Host: ").Append(head.Authority).Append("\r\n");
        HashSet<string> dropped = Dropped(head.Headers);
        foreach ((string name, string value) in head.Headers)
        {
            if (!dropped.Contains(name) && !name.Equals("Host", StringComparison.OrdinalIgnoreCase))
                text.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        if (upgrade)
            text.Append("Connection: Upgrade\r\nUpgrade: websocket\r\n");
        text.Append("\r\n");
        return Encoding.Latin1.GetBytes(text.ToString());
    }

    /// <summary>The response head for the agent, hop-by-hop fields dropped; "Connection: close" when the proxy closes after it.</summary>
    internal static byte[] ClientHead(HttpResponseHead response, bool close, bool keepUpgrade)
    {
        var text = new StringBuilder(256);
        text.Append(response.Version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ").Append(response.StatusCode).Append(' ').Append(response.Reason).Append("\r\n");
        HashSet<string> dropped = Dropped(response.Headers);
        foreach ((string name, string value) in response.Headers)
        {
            if (!dropped.Contains(name))
                text.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        if (keepUpgrade)
            text.Append("Connection: Upgrade\r\nUpgrade: websocket\r\n");
        else if (close)
            text.Append("Connection: close\r\n");
        text.Append("\r\n");
        return Encoding.Latin1.GetBytes(text.ToString());
    }

    /// <summary>What a connection carries at one moment: judged again when the policy changes.</summary>
    internal sealed record InFlight(EgressRequest Request, Holders Holders, string Kind, int Sequence);

    /// <summary>What one request came to: bytes each way (added from the relay threads too) and the status the agent was given.</summary>
    private sealed class Outcome
    {
        public int? Status { get; set; }

        private long _up;
        private long _down;

        public long Up => Interlocked.Read(ref _up);

        public long Down => Interlocked.Read(ref _down);

        public void AddUp(long n) => Interlocked.Add(ref _up, n);

        public void AddDown(long n) => Interlocked.Add(ref _down, n);
    }
}

/// <summary>
/// A token cancelled when <see cref="Touch"/> has not been called for the idle time, or when its
/// parent is. Touch only stores a timestamp (it runs for every chunk a tunnel moves); a timer
/// looks at it a few times per idle period.
/// </summary>
internal sealed class IdleTimer : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly long _idleMs;
    private readonly Timer _check;
    private long _last = Environment.TickCount64;

    public IdleTimer(CancellationToken parent, TimeSpan idle)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(parent);
        _idleMs = (long)idle.TotalMilliseconds;
        long period = Math.Max(_idleMs / 8, 1);
        _check = new Timer(_ => Check(), null, period, period);
    }

    public CancellationToken Token => _source.Token;

    public void Touch() => Volatile.Write(ref _last, Environment.TickCount64);

    private void Check()
    {
        if (Environment.TickCount64 - Volatile.Read(ref _last) >= _idleMs)
            Cancel();
    }

    public void Cancel()
    {
        try
        {
            _source.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _check.Dispose();
        _source.Dispose();
    }
}

/// <summary>A connection to an upstream, dialled to a checked address, with a pipe over its responses.</summary>
internal sealed class Upstream : IAsyncDisposable
{
    public Upstream(Socket socket, string host, int port)
    {
        Socket = socket;
        Stream = new NetworkStream(socket, ownsSocket: true);
        Reader = PipeReader.Create(Stream, EgressConnection.PipeOptions);
        Host = host;
        Port = port;
    }

    public Socket Socket { get; }

    public NetworkStream Stream { get; }

    public PipeReader Reader { get; }

    public string Host { get; }

    public int Port { get; }

    /// <summary>The server said it closes after the current response, or it misbehaved: not reused.</summary>
    public bool Closing { get; set; }

    /// <summary>Reusable for a request to host:port: same destination, not closing, and nothing from the server while idle.</summary>
    public bool Serves(string host, int port)
    {
        if (Closing || port != Port || !string.Equals(host, Host, StringComparison.OrdinalIgnoreCase))
            return false;
        // Bytes left over past the last response, or the server's close, cannot belong to the
        // next request: such a link is dropped, not reused.
        if (Reader.TryRead(out ReadResult buffered))
        {
            bool clean = buffered.Buffer.IsEmpty && !buffered.IsCompleted;
            Reader.AdvanceTo(buffered.Buffer.Start);
            if (!clean)
                return false;
        }
        try
        {
            return !Socket.Poll(0, SelectMode.SelectRead); // readable while idle: data or EOF
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Reader.CompleteAsync().ConfigureAwait(false);
        await Stream.DisposeAsync().ConfigureAwait(false);
    }
}
