using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Sandboxrun.Netns.Identity;
using Xunit;

namespace Sandboxrun.Tests.Netns;

/// <summary>From an accepted socket to the executables holding its peer, with real processes and the real kernel.</summary>
public sealed class PeerIdentityTests
{
    private static (Process Child, Socket Accepted) ConnectFrom(TcpListener listener, string script)
    {
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var psi = new ProcessStartInfo("bash", ["-c", script.Replace("PORT", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        Process child = Process.Start(psi)!;
        Socket accepted = listener.AcceptSocket();
        return (child, accepted);
    }

    private static string Sha(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static IEnumerable<int> Family(int root)
    {
        yield return root;
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out int pid) && pid != root)
            {
                string stat;
                try { stat = File.ReadAllText(Path.Combine(dir, "stat")); } catch (IOException) { continue; }
                if (stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1] == root.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    yield return pid;
            }
        }
    }

    [Fact]
    public void ResolvesTheExecutableThatOpenedTheConnectionAndEverySharer()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        // bash opens the socket as fd 3, then a child `sleep` inherits it: both hold it.
        (Process child, Socket accepted) = ConnectFrom(listener, "exec 3<>/dev/tcp/127.0.0.1/PORT; sleep 5; true");
        using (child)
        using (accepted)
        {
            int diag = SockDiag.OpenInCurrentNamespace();
            Assert.True(diag >= 0, $"sock_diag: errno {-diag}");
            try
            {
                SocketOwner? owner = SockDiag.Lookup(diag, (IPEndPoint)accepted.RemoteEndPoint!, (IPEndPoint)accepted.LocalEndPoint!);
                Assert.NotNull(owner);
                Assert.NotEqual(0UL, owner.Value.Inode);

                var identity = new PeerIdentity(() => Family(child.Id));
                Peer peer = default!;
                for (int i = 0; i < 50; i++) // the sleep child appears shortly after the connect
                {
                    peer = identity.Resolve(owner.Value);
                    if (peer.Holders.Length == 2)
                        break;
                    Thread.Sleep(20);
                }
                Assert.Equal(2, peer.Holders.Length);
                string bash = new FileInfo($"/proc/{child.Id}/exe").LinkTarget!;
                Assert.Contains(peer.Holders, h => h.ExePath == bash && h.Sha256 == Sha(bash));
                Assert.Contains(peer.Holders, h => h.ExePath.EndsWith("/sleep", StringComparison.Ordinal));
                SocketHolder sleeper = peer.Holders.Single(h => h.ExePath.EndsWith("/sleep", StringComparison.Ordinal));
                Assert.Contains(sleeper.Ancestors, a => a.Path == bash && a.Sha256 == Sha(bash));
            }
            finally
            {
                SockDiag.Close(diag);
                child.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public void AnUnknownTupleResolvesToNothing()
    {
        int diag = SockDiag.OpenInCurrentNamespace();
        try
        {
            Assert.Null(SockDiag.Lookup(diag, new IPEndPoint(IPAddress.Loopback, 1), new IPEndPoint(IPAddress.Loopback, 2)));
        }
        finally
        {
            SockDiag.Close(diag);
        }
    }
}
