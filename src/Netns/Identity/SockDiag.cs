using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Sandboxrun.Netns.Identity;

/// <summary>What the kernel says about the socket at the other end of an accepted connection.</summary>
public readonly record struct SocketOwner(ulong Inode, uint Uid);

/// <summary>
/// sock_diag(7): asks the kernel which socket (inode, uid) has a given TCP 4-tuple. The query
/// runs on a NETLINK_SOCK_DIAG socket opened inside the namespace the sockets live in.
/// </summary>
public static class SockDiag
{
    private const ushort SockDiagByFamily = 20;
    private const ushort NlmFRequest = 0x1;
    private const ushort NlmsgError = 2;
    private const ushort NlmsgDone = 3;
    private const int NlHeader = 16;
    private const int ReqSize = 56;     // struct inet_diag_req_v2
    private const int MsgIdOffset = 4;  // inet_diag_msg.id
    private const int MsgUidOffset = 64;
    private const int MsgInodeOffset = 68;

    /// <summary>Opens a diag socket in the caller's network namespace (tests, host-side use). -errno on failure.</summary>
    public static int OpenInCurrentNamespace() => Interop.SockDiag.Open();

    /// <summary>
    /// The socket whose local end is <paramref name="local"/> and remote end <paramref name="remote"/>
    /// (for the proxy: local = the agent's ephemeral address, remote = the proxy's listener).
    /// </summary>
    public static unsafe SocketOwner? Lookup(int diagFd, IPEndPoint local, IPEndPoint remote)
    {
        if (local.AddressFamily != remote.AddressFamily)
            return null;
        Span<byte> req = stackalloc byte[NlHeader + ReqSize];
        req.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(req, (uint)req.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(req[4..], SockDiagByFamily);
        BinaryPrimitives.WriteUInt16LittleEndian(req[6..], NlmFRequest);
        BinaryPrimitives.WriteUInt32LittleEndian(req[8..], 1);
        Span<byte> r = req[NlHeader..];
        r[0] = (byte)(local.AddressFamily == AddressFamily.InterNetwork ? 2 : 10);
        r[1] = 6; // IPPROTO_TCP
        BinaryPrimitives.WriteUInt32LittleEndian(r[4..], 0xFFFFFFFF); // every TCP state
        WriteSockId(r[8..], local, remote);

        fixed (byte* p = req)
        {
            if (Interop.SockDiag.Send(diagFd, p, (nuint)req.Length, 0) < 0)
                return null;
        }
        byte[] buf = new byte[8192];
        fixed (byte* b = buf)
        {
            nint n = Interop.SockDiag.Recv(diagFd, b, (nuint)buf.Length, 0);
            if (n < NlHeader)
                return null;
            var reply = new ReadOnlySpan<byte>(b, (int)n);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(reply[4..]);
            if (type == NlmsgError || type == NlmsgDone || reply.Length < NlHeader + MsgInodeOffset + 4)
                return null;
            ReadOnlySpan<byte> msg = reply[NlHeader..];
            return new SocketOwner(BinaryPrimitives.ReadUInt32LittleEndian(msg[MsgInodeOffset..]), BinaryPrimitives.ReadUInt32LittleEndian(msg[MsgUidOffset..]));
        }
    }

    // struct inet_diag_sockid { be16 sport; be16 dport; be32 src[4]; be32 dst[4]; u32 if; u32 cookie[2]; }
    private static void WriteSockId(Span<byte> id, IPEndPoint src, IPEndPoint dst)
    {
        BinaryPrimitives.WriteUInt16BigEndian(id, (ushort)src.Port);
        BinaryPrimitives.WriteUInt16BigEndian(id[2..], (ushort)dst.Port);
        src.Address.TryWriteBytes(id[4..20], out _);
        dst.Address.TryWriteBytes(id[20..36], out _);
        BinaryPrimitives.WriteUInt32LittleEndian(id[40..], 0xFFFFFFFF); // INET_DIAG_NOCOOKIE
        BinaryPrimitives.WriteUInt32LittleEndian(id[44..], 0xFFFFFFFF);
    }

    public static void Close(int fd)
    {
        if (fd >= 0)
            Interop.SockDiag.Close(fd);
    }

    internal static int LastError => Marshal.GetLastPInvokeError();
}
