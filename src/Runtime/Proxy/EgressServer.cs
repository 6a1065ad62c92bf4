using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using Sandboxrun.Audit;
using Sandboxrun.Netns.Egress;
using Sandboxrun.Netns.Identity;

namespace Sandboxrun.Proxy;

/// <summary>
/// The egress proxy: the only way out of the sandbox's network namespace. Its listening socket
/// lives inside that namespace (created by pid 1 and handed over); connections upstream are
/// dialled from the supervisor, in the host's namespace. Each accepted connection is an
/// <see cref="EgressConnection"/>; this class holds what they share: the policy in force (swapped
/// atomically on reload), peer identity, dialling with the destination guard, the audit log and
/// the counters <c>sandboxrun ps</c> shows.
///
///   [1] accept on the sandbox's 127.0.0.1:3128
///   [2] per request: identify the peer once the head is in (sock_diag -> socket inode -> every
///       sandbox process holding it -> exe + SHA-256) and decide
///   [3] resolve the name once, check every address (SSRF guard), dial exactly a checked address
///   [4] reload: swap the compiled policy, then re-check everything in flight and close what lost its permission
/// </summary>
internal sealed class EgressServer : IDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long <see cref="Shutdown"/> waits for the connections it ends to write their last audit lines.</summary>
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(5);

    private readonly Socket _listener;
    private readonly int _diagFd;
    private readonly Lock _diagLock = new();
    private readonly PeerIdentity _identity;
    private readonly AuditLog? _audit;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<long, EgressConnection> _open = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _accepting = Task.CompletedTask;
    private CompiledEgressPolicy _policy;
    private long _nextId;
    private long _allowed;
    private long _denied;

    public EgressServer(int listenFd, int diagFd, int sandboxInit, CompiledEgressPolicy policy, AuditLog? audit)
    {
        _listener = new Socket(new SafeSocketHandle(listenFd, ownsHandle: true));
        _diagFd = diagFd;
        _policy = policy;
        _audit = audit;
        _identity = new PeerIdentity(() => SandboxProcesses.Of(sandboxInit));
    }

    public long Allowed => Interlocked.Read(ref _allowed);

    public long Denied => Interlocked.Read(ref _denied);

    public int OpenConnections => _open.Count;

    internal bool Stopping => _stop.IsCancellationRequested;

    /// <summary>
    /// [4] Swaps the policy atomically (new connections and every new request use it), then judges
    /// again what every open connection is carrying and closes those the new policy denies.
    /// Returns how many were closed.
    /// </summary>
    public int Swap(CompiledEgressPolicy policy)
    {
        Volatile.Write(ref _policy, policy);
        int revoked = 0;
        foreach (EgressConnection c in _open.Values)
        {
            if (c.Current is not { } carried)
                continue;
            EgressDecision d = policy.EvaluateForHolders(carried.Request, ForPolicy(policy, carried.Holders).All);
            if (d.IsAllowed)
                continue;
            revoked++;
            Log("egress.revoked", d, carried.Holders, ("conn", c.Id), ("request", carried.Sequence), ("carrying", carried.Kind),
                ("method", carried.Request.Method ?? "CONNECT"), ("path", carried.Request.Path is { } p ? Netns.Egress.Redaction.Path(p) : null));
            c.Revoke();
        }
        return revoked;
    }

    public void Start() => _accepting = Task.Run(AcceptLoop);

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
            // Responses go out as a head write and a body write: with Nagle on, the body would wait
            // for the agent's (delayed, ~40 ms) ACK of the head on every kept-alive request.
            client.NoDelay = true;
            var connection = new EgressConnection(this, client, Interlocked.Increment(ref _nextId), _stop.Token);
            _open[connection.Id] = connection;
            _ = Task.Run(async () =>
            {
                try
                {
                    await connection.Serve().ConfigureAwait(false);
                }
                finally
                {
                    _open.TryRemove(connection.Id, out _);
                    if (_stop.IsCancellationRequested && _open.IsEmpty)
                        _drained.TrySetResult(); // the last one open at shutdown
                }
            });
        }
    }

    /// <summary>[2] Judged for every holder of the socket; no holder found (the process exited): an unknown binary, so denied.</summary>
    internal EgressDecision Decide(EgressRequest request, Holders holders)
    {
        CompiledEgressPolicy policy = Volatile.Read(ref _policy);
        EgressDecision d = policy.EvaluateForHolders(request, ForPolicy(policy, holders).All);
        Interlocked.Increment(ref d.IsAllowed ? ref _allowed : ref _denied);
        return d;
    }

    internal Holders Identify(Socket client)
    {
        SocketOwner? owner;
        try
        {
            lock (_diagLock)
                owner = SockDiag.Lookup(_diagFd, (IPEndPoint)client.RemoteEndPoint!, (IPEndPoint)client.LocalEndPoint!);
        }
        catch (SocketException)
        {
            owner = null;
        }
        if (owner is null)
            return Holders.Unknown;
        bool ancestors = Volatile.Read(ref _policy).UsesInherit;
        Peer peer = _identity.Resolve(owner.Value, ancestors);
        if (peer.Holders.IsEmpty)
            return Holders.Unknown;
        return new Holders(
            [.. peer.Holders.Select(h => new EgressHolder(new EgressExecutable(h.ExePath, h.Sha256), Executables(h.Ancestors)))],
            [.. peer.Holders.Select(h => h.Pid)],
            ancestors);
    }

    /// <summary>
    /// The holders as <paramref name="policy"/> needs them: identified without ancestors (no
    /// <c>inherit</c> entry in force then) but judged by a policy with one (a reload in between),
    /// their ancestors are looked up now, so an inherit entry is never judged against an empty chain.
    /// </summary>
    private Holders ForPolicy(CompiledEgressPolicy policy, Holders holders)
    {
        if (!policy.UsesInherit || holders.AncestorsKnown)
            return holders;
        return new Holders(
            [.. holders.All.Select((h, i) => h with { Ancestors = Executables(_identity.Ancestors(holders.Pids[i])) })],
            holders.Pids,
            AncestorsKnown: true);
    }

    private static ImmutableArray<EgressExecutable> Executables(ImmutableArray<(string Path, string Sha256)> list) =>
        [.. list.Select(a => new EgressExecutable(a.Path, a.Sha256))];

    /// <summary>[3] Resolves once, checks every address, dials a checked one. Null after answering the client.</summary>
    internal async Task<Upstream?> Dial(EgressDecision decision, Stream client, CancellationToken token)
    {
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(decision.Host, out IPAddress? literal)
                ? [literal]
                : await Dns.GetHostAddressesAsync(decision.Host, token).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            Log("egress.upstream_failed", decision, Holders.Unknown, ("detail", "name resolution failed: " + e.SocketErrorCode));
            await client.WriteAsync(ProxyResponses.UpstreamUnreachable(decision.Host, decision.Port, "name resolution failed: " + e.SocketErrorCode), token).ConfigureAwait(false);
            return null;
        }
        DestinationVerdict verdict = DestinationGuard.Check(decision, addresses);
        if (!verdict.Allowed)
        {
            Log("egress.ssrf_denied", decision, Holders.Unknown, ("detail", verdict.Detail));
            await client.WriteAsync(ProxyResponses.SsrfDenied(decision, verdict), token).ConfigureAwait(false);
            return null;
        }
        foreach (IPAddress address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(ConnectTimeout);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, decision.Port), timeout.Token).ConfigureAwait(false);
                return new Upstream(socket, decision.Host, decision.Port);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                socket.Dispose();
                token.ThrowIfCancellationRequested();
            }
        }
        Log("egress.upstream_failed", decision, Holders.Unknown, ("detail", "connection failed"));
        await client.WriteAsync(ProxyResponses.UpstreamUnreachable(decision.Host, decision.Port, "connection failed"), token).ConfigureAwait(false);
        return null;
    }

    internal void Log(string evt, EgressDecision? d, Holders holders, params (string, object?)[] extra)
    {
        if (_audit is null)
            return;
        var fields = new List<(string, object?)>(24);
        if (!holders.Pids.IsEmpty)
            fields.Add(("pid", holders.Pids[0]));
        if (!holders.All.IsEmpty && holders.All[0].Binary.Sha256 is not null)
        {
            fields.AddRange([("binary", holders.All[0].Binary.Path), ("sha256", holders.All[0].Binary.Sha256),
                ("holders", holders.All.Select(h => h.Binary.Path).ToArray())]);
        }
        if (d is not null)
        {
            fields.AddRange([("host", d.Host), ("port", d.Port), ("decision", d.Verdict.ToString().ToLowerInvariant()), ("policy", d.Policy),
                ("rule", d.Rule), ("layer", d.Layer == EgressLayer.L4 ? "l4" : "l7"), ("reason", d.Detail), ("generation", d.Generation)]);
        }
        fields.AddRange(extra);
        _audit.Write(evt, [.. fields]);
    }

    /// <summary>
    /// Stops accepting, ends every open connection and waits (at most <see cref="ShutdownGrace"/>)
    /// until each has written its last audit line: the agent has exited by now, but a connection's
    /// end may not have been noticed yet, and an <c>egress.end</c> written after the audit log is
    /// closed would be lost. Called once the agent has exited, before <c>sandbox.exit</c> is written.
    /// </summary>
    public void Shutdown()
    {
        if (_stop.IsCancellationRequested)
            return;
        _stop.Cancel(); // every connection's token is linked to it
        _listener.Dispose();
        var deadline = Task.Delay(ShutdownGrace);
        // The accept loop first: a connection it accepted as the stop came is in _open once it has returned.
        Task.WaitAny(_accepting, deadline);
        if (!_open.IsEmpty)
            Task.WaitAny(_drained.Task, deadline);
    }

    public void Dispose()
    {
        Shutdown();
        SockDiag.Close(_diagFd);
    }
}

/// <summary>The processes holding an agent's socket, as the decision engine sees them, with their host pids.</summary>
internal sealed record Holders(ImmutableArray<EgressHolder> All, ImmutableArray<int> Pids, bool AncestorsKnown)
{
    /// <summary>No holder found: judged as an unknown binary, which no policy names.</summary>
    public static readonly Holders Unknown = new([new EgressHolder(new EgressExecutable("(unknown)", null), [])], [], AncestorsKnown: true);

    public EgressHolder First => All[0];
}
