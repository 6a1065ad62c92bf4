using System.Buffers;
using System.Collections.Immutable;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sandboxrun.Audit;
using Sandboxrun.Netns.Egress;
using Sandboxrun.Netns.Identity;

namespace Sandboxrun.Proxy;

/// <summary>
/// The egress proxy: the only way out of the sandbox's network namespace. Its listening socket
/// lives inside that namespace (created by pid 1 and handed over); connections upstream are
/// dialled from the supervisor, in the host's namespace. Every connection and every request
/// is decided by <see cref="CompiledEgressPolicy"/> for the executables that hold the agent's
/// socket before a byte goes upstream.
///
///   [1] accept on the sandbox's 127.0.0.1:3128
///   [3] read and parse the request head (strict HTTP/1.1, size limits)
///   [2] identify the peer once the head is in: sock_diag -> socket inode -> every sandbox process
///       holding it -> exe + SHA-256
///   [4] decide; a denial is answered 403 and the connection closed, nothing upstream
///   [5] resolve the name once, check every address (SSRF guard), dial exactly a checked address
///   [6] CONNECT: 200 then relay raw bytes; plain HTTP: forward one request (Connection: close),
///       its body framed by Content-Length or chunked encoding, then relay the response
/// </summary>
internal sealed class EgressServer : IDisposable
{
    private static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Trailer", "Upgrade",
    };

    private readonly Socket _listener;
    private readonly int _diagFd;
    private readonly Lock _diagLock = new();
    private readonly PeerIdentity _identity;
    private readonly AuditLog? _audit;
    private readonly CancellationTokenSource _stop = new();
    private CompiledEgressPolicy _policy;

    public EgressServer(int listenFd, int diagFd, int sandboxInit, CompiledEgressPolicy policy, AuditLog? audit)
    {
        _listener = new Socket(new SafeSocketHandle(listenFd, ownsHandle: true));
        _diagFd = diagFd;
        _policy = policy;
        _audit = audit;
        _identity = new PeerIdentity(() => SandboxProcesses.Of(sandboxInit));
    }

    /// <summary>Swaps the policy atomically: new connections and new requests use it.</summary>
    public void Swap(CompiledEgressPolicy policy) => Volatile.Write(ref _policy, policy);

    public void Start() => _ = Task.Run(AcceptLoop);

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false); // [1]
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => Serve(client));
        }
    }

    private async Task Serve(Socket client)
    {
        using Socket _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        PipeReader reader = PipeReader.Create(stream);
        try
        {
            using var headTimeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            headTimeout.CancelAfter(HeadTimeout);
            (HeadParseResult parsed, ReadOnlySequence<byte> rest, bool eof) = await ReadHead(reader, headTimeout.Token).ConfigureAwait(false); // [3]
            // Identified when the request is complete, not at accept: a process that got the
            // socket in between (fork, SCM_RIGHTS) is among the holders judged.
            ImmutableArray<EgressHolder> holders = Identify(client); // [2]
            if (parsed.Status == HeadParseStatus.Rejected)
            {
                await stream.WriteAsync(ProxyResponses.ParseRejected(parsed)).ConfigureAwait(false);
                Log("egress.rejected", null, holders, ("status", parsed.StatusCode), ("detail", parsed.Reason));
                return;
            }
            if (parsed.Head is not HttpRequestHead head || eof && parsed.Status != HeadParseStatus.Parsed)
                return;
            reader.AdvanceTo(rest.Start);

            EgressExecutable first = holders.IsEmpty ? new EgressExecutable("(unknown)", null) : holders[0].Binary;
            EgressRequest request = head.ToEgressRequest(first, holders.IsEmpty ? [] : holders[0].Ancestors);
            // No holder found (the process already exited): judged as an unknown binary, so denied.
            EgressDecision decision = Volatile.Read(ref _policy).EvaluateForHolders(request, holders.IsEmpty ? [new EgressHolder(first, [])] : holders); // [4]
            Log("egress.decision", decision, holders, ("method", head.Method), ("path", head.IsConnect ? null : Audit.Redaction.Redact(head.Path)));
            if (!decision.IsAllowed)
            {
                await stream.WriteAsync(ProxyResponses.PolicyDenied(decision, request)).ConfigureAwait(false);
                return;
            }

            using Socket? upstream = await Dial(decision, stream).ConfigureAwait(false); // [5]
            if (upstream is null)
                return;
            await using var up = new NetworkStream(upstream, ownsSocket: false);
            if (head.IsConnect) // [6]
            {
                await stream.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray()).ConfigureAwait(false);
                await Relay(reader, stream, up, upstream, client).ConfigureAwait(false);
            }
            else
            {
                await up.WriteAsync(OriginForm(head, decision.NormalizedPath ?? head.Path)).ConfigureAwait(false);
                await CopyBody(reader, head, up).ConfigureAwait(false);
                await up.CopyToAsync(stream).ConfigureAwait(false);
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
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private ImmutableArray<EgressHolder> Identify(Socket client)
    {
        SocketOwner? owner;
        lock (_diagLock)
            owner = SockDiag.Lookup(_diagFd, (IPEndPoint)client.RemoteEndPoint!, (IPEndPoint)client.LocalEndPoint!);
        if (owner is null)
            return [];
        Peer peer = _identity.Resolve(owner.Value);
        return [.. peer.Holders.Select(h => new EgressHolder(
            new EgressExecutable(h.ExePath, h.Sha256),
            [.. h.Ancestors.Select(a => new EgressExecutable(a.Path, a.Sha256))]))];
    }

    private static async Task<(HeadParseResult, ReadOnlySequence<byte>, bool)> ReadHead(PipeReader reader, CancellationToken token)
    {
        while (true)
        {
            ReadResult read = await reader.ReadAsync(token).ConfigureAwait(false);
            HeadParseResult parsed = HttpHeadParser.Parse(read.Buffer);
            if (parsed.Status != HeadParseStatus.Incomplete || read.IsCompleted)
                return (parsed, parsed.Head is { } h ? read.Buffer.Slice(h.HeadLength) : read.Buffer, read.IsCompleted);
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    /// <summary>Resolves once, checks every address, dials a checked one. Null after answering the client.</summary>
    private async Task<Socket?> Dial(EgressDecision decision, Stream client)
    {
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(decision.Host, out IPAddress? literal)
                ? [literal]
                : await Dns.GetHostAddressesAsync(decision.Host, _stop.Token).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            await client.WriteAsync(ProxyResponses.UpstreamUnreachable(decision.Host, decision.Port, "name resolution failed: " + e.SocketErrorCode)).ConfigureAwait(false);
            return null;
        }
        DestinationVerdict verdict = DestinationGuard.Check(decision, addresses);
        if (!verdict.Allowed)
        {
            Log("egress.ssrf_denied", decision, [], ("detail", verdict.Detail));
            await client.WriteAsync(ProxyResponses.SsrfDenied(decision, verdict)).ConfigureAwait(false);
            return null;
        }
        foreach (IPAddress address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(ConnectTimeout);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, decision.Port), timeout.Token).ConfigureAwait(false);
                return socket;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                socket.Dispose();
            }
        }
        await client.WriteAsync(ProxyResponses.UpstreamUnreachable(decision.Host, decision.Port, "connection failed")).ConfigureAwait(false);
        return null;
    }

    /// <summary>The request in origin-form for the upstream server, hop-by-hop headers dropped, one request per connection.</summary>
    /// <remarks>The path sent is the one the decision judged (normalised), never the raw one.</remarks>
    private static byte[] OriginForm(HttpRequestHead head, string path)
    {
        var text = new StringBuilder();
        text.Append(head.Method).Append(' ').Append(path);
        if (head.Query is not null)
            text.Append('?').Append(head.Query);
        text.Append(" HTTP/1.1\r\nHost: ").Append(head.Authority).Append("\r\n");
        foreach ((string name, string value) in head.Headers)
        {
            if (!HopByHop.Contains(name) && !name.Equals("Host", StringComparison.OrdinalIgnoreCase))
                text.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        text.Append("Connection: close\r\n\r\n");
        return Encoding.Latin1.GetBytes(text.ToString());
    }

    /// <summary>Copies exactly the request's body: nothing after it (a pipelined request) goes upstream undecided.</summary>
    private static async Task CopyBody(PipeReader reader, HttpRequestHead head, Stream upstream)
    {
        if (head.ContentLength is long length)
        {
            await CopyExactly(reader, upstream, length).ConfigureAwait(false);
            return;
        }
        if (!head.Chunked)
            return;
        while (true) // RFC 9112 §7.1: chunk-size [ext] CRLF data CRLF ... 0 CRLF trailers CRLF
        {
            string line = await ReadLine(reader, upstream).ConfigureAwait(false);
            int semi = line.IndexOf(';', StringComparison.Ordinal);
            if (!long.TryParse(semi < 0 ? line : line[..semi], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long size) || size < 0)
                throw new IOException("bad chunk size");
            if (size == 0)
            {
                while ((await ReadLine(reader, upstream).ConfigureAwait(false)).Length > 0)
                {
                }
                return;
            }
            await CopyExactly(reader, upstream, size + 2).ConfigureAwait(false);
        }
    }

    /// <summary>Reads one CRLF-terminated line (at most 4 KiB), forwards it, returns it without CRLF.</summary>
    private static async Task<string> ReadLine(PipeReader reader, Stream upstream)
    {
        while (true)
        {
            ReadResult read = await reader.ReadAsync().ConfigureAwait(false);
            SequencePosition? lf = read.Buffer.PositionOf((byte)'\n');
            if (lf is SequencePosition end)
            {
                ReadOnlySequence<byte> line = read.Buffer.Slice(0, read.Buffer.GetPosition(1, end));
                byte[] bytes = line.ToArray();
                await upstream.WriteAsync(bytes).ConfigureAwait(false);
                reader.AdvanceTo(line.End);
                return Encoding.Latin1.GetString(bytes).TrimEnd('\r', '\n');
            }
            if (read.IsCompleted || read.Buffer.Length > 4096)
                throw new IOException("truncated or oversized chunk line");
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    private static async Task CopyExactly(PipeReader reader, Stream upstream, long length)
    {
        while (length > 0)
        {
            ReadResult read = await reader.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> chunk = read.Buffer.Slice(0, Math.Min(length, read.Buffer.Length));
            foreach (ReadOnlyMemory<byte> segment in chunk)
                await upstream.WriteAsync(segment).ConfigureAwait(false);
            length -= chunk.Length;
            reader.AdvanceTo(chunk.End);
            if (length > 0 && read.IsCompleted)
                throw new IOException("request body truncated");
        }
    }

    /// <summary>Both directions until either side closes; then the other direction is shut down too.</summary>
    private static async Task Relay(PipeReader fromClient, Stream client, Stream upstream, Socket upstreamSocket, Socket clientSocket)
    {
        Task up = fromClient.CopyToAsync(upstream).ContinueWith(_ => Shutdown(upstreamSocket), TaskScheduler.Default);
        Task down = upstream.CopyToAsync(client).ContinueWith(_ => Shutdown(clientSocket), TaskScheduler.Default);
        await Task.WhenAll(up, down).ConfigureAwait(false);
    }

    private static void Shutdown(Socket s)
    {
        try
        {
            s.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Log(string evt, EgressDecision? d, ImmutableArray<EgressHolder> holders, params (string, object?)[] extra)
    {
        if (_audit is null)
            return;
        var fields = new List<(string, object?)>
        {
            ("binary", holders.IsEmpty ? null : holders[0].Binary.Path),
            ("sha256", holders.IsEmpty ? null : holders[0].Binary.Sha256),
            ("holders", holders.Select(h => h.Binary.Path).ToArray()),
        };
        if (d is not null)
        {
            fields.AddRange([("host", d.Host), ("port", d.Port), ("decision", d.Verdict.ToString().ToLowerInvariant()), ("policy", d.Policy),
                ("rule", d.Rule), ("layer", d.Layer == EgressLayer.L4 ? "l4" : "l7"), ("reason", d.Detail), ("generation", d.Generation)]);
        }
        fields.AddRange(extra);
        _audit.Write(evt, [.. fields]);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        SockDiag.Close(_diagFd);
        _stop.Dispose();
    }
}

/// <summary>The host pids of the processes in a sandbox: those sharing its init's pid namespace.</summary>
internal static class SandboxProcesses
{
    public static IEnumerable<int> Of(int init)
    {
        string? ns = new FileInfo($"/proc/{init}/ns/pid").LinkTarget;
        if (ns is null)
            yield break;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                continue;
            string? other;
            try
            {
                other = new FileInfo($"{dir}/ns/pid").LinkTarget;
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            if (other == ns)
                yield return pid;
        }
    }
}
