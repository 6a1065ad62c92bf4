using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Sandboxrun.Netns.Identity;
using Sandboxrun.Proxy;

namespace Sandboxrun.Bench;

/// <summary>
/// Peer identity, which the proxy works out for every request once its head is in
/// (EgressServer.Identify): sock_diag finds the socket inode of the agent's end of the
/// connection, then PeerIdentity scans /proc/PID/fd of the candidate processes for that inode and
/// names the holder's executable (SHA-256 cached by dev, inode, size and times). Measured on a real
/// TCP connection over 127.0.0.1 in this process, with this process as the only candidate: the
/// socket's holder is then one process with one executable and no candidate ancestors, the
/// cheapest case the proxy meets. Each additional sandbox process costs one more /proc/PID/fd
/// scan, and each candidate ancestor of the holder one more /proc/PID/stat read and exe open.
/// </summary>
[MemoryDiagnoser]
public class IdentityBenchmarks
{
    private Socket _listener = null!;
    private Socket _agent = null!;
    private Socket _accepted = null!;
    private int _diag = -1;
    private IPEndPoint _agentEnd = null!;
    private IPEndPoint _proxyEnd = null!;
    private SocketOwner _owner;
    private PeerIdentity _thisProcess = null!;
    private PeerIdentity _processTree = null!;

    [GlobalSetup]
    public void Setup()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen();
        _agent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _agent.Connect(_listener.LocalEndPoint!);
        _accepted = _listener.Accept();
        _diag = SockDiag.OpenInCurrentNamespace();
        if (_diag < 0)
            throw new InvalidOperationException($"sock_diag socket: errno {-_diag}");

        // As the proxy sees it: local = the agent's ephemeral end, remote = the listener.
        _agentEnd = (IPEndPoint)_accepted.RemoteEndPoint!;
        _proxyEnd = (IPEndPoint)_accepted.LocalEndPoint!;
        _owner = SockDiag.Lookup(_diag, _agentEnd, _proxyEnd) ?? throw new InvalidOperationException("sock_diag found no socket");

        int self = Environment.ProcessId;
        _thisProcess = new PeerIdentity(() => [self]);
        _processTree = new PeerIdentity(() => SandboxProcesses.Of(self)); // the proxy's candidate list: a process and its descendants
        Peer peer = _thisProcess.Resolve(_owner);
        if (peer.Holders.Length != 1 || peer.Holders[0].Pid != self)
            throw new InvalidOperationException("the socket's holder was not found");
        Console.WriteLine($"// identity: {Directory.GetFileSystemEntries($"/proc/{self}/fd").Length} fds and "
            + $"{Directory.GetDirectories($"/proc/{self}/task").Length} threads in the benchmark process; holder {peer.Holders[0].ExePath}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        SockDiag.Close(_diag);
        _accepted.Dispose();
        _agent.Dispose();
        _listener.Dispose();
    }

    /// <summary>sock_diag alone: one netlink request and reply.</summary>
    [Benchmark]
    public SocketOwner? SockDiagLookup() => SockDiag.Lookup(_diag, _agentEnd, _proxyEnd);

    /// <summary>PeerIdentity alone, the inode known: /proc/PID/fd scan, exe path, fstat, cached hash.</summary>
    [Benchmark]
    public Peer Resolve() => _thisProcess.Resolve(_owner);

    /// <summary>The figure per request: both, endpoints read from the accepted socket as the proxy does.</summary>
    [Benchmark(Baseline = true)]
    public Peer LookupAndResolve()
    {
        SocketOwner owner = SockDiag.Lookup(_diag, (IPEndPoint)_accepted.RemoteEndPoint!, (IPEndPoint)_accepted.LocalEndPoint!)
            ?? throw new InvalidOperationException("lookup failed");
        return _thisProcess.Resolve(owner);
    }

    /// <summary>As above with the proxy's candidate list (SandboxProcesses.Of: /proc/PID/task/TID/children of every thread).</summary>
    [Benchmark]
    public Peer LookupAndResolveWithProcessTree()
    {
        SocketOwner owner = SockDiag.Lookup(_diag, (IPEndPoint)_accepted.RemoteEndPoint!, (IPEndPoint)_accepted.LocalEndPoint!)
            ?? throw new InvalidOperationException("lookup failed");
        return _processTree.Resolve(owner);
    }
}
