using System.Buffers.Binary;

namespace Sandboxrun.Netns;

/// <summary>
/// rtnetlink(7) requests the sandbox's network namespace needs, built as bytes in the
/// supervisor and sent unchanged by the native stage inside the namespace.
/// </summary>
public static class Netlink
{
    /// <summary>A new network namespace has exactly one interface, lo, with index 1.</summary>
    public const int LoopbackIndex = 1;

    private const ushort RtmNewLink = 16;
    private const ushort NlmFRequest = 0x1;
    private const ushort NlmFAck = 0x4;
    private const uint IffUp = 0x1;
    private const int NlmsgHeaderSize = 16;
    private const int IfInfoMsgSize = 16;

    /// <summary>RTM_NEWLINK for <paramref name="ifindex"/> with ifi_flags = ifi_change = IFF_UP, acknowledged.</summary>
    public static byte[] SetLinkUp(int ifindex, uint sequence = 1)
    {
        var msg = new byte[NlmsgHeaderSize + IfInfoMsgSize];
        Span<byte> s = msg;
        // struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }
        BinaryPrimitives.WriteUInt32LittleEndian(s, (uint)msg.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], RtmNewLink);
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], NlmFRequest | NlmFAck);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], sequence);
        // struct ifinfomsg { u8 family; u8 pad; u16 type; i32 index; u32 flags; u32 change; }
        s[16] = 0; // AF_UNSPEC
        BinaryPrimitives.WriteInt32LittleEndian(s[20..], ifindex);
        BinaryPrimitives.WriteUInt32LittleEndian(s[24..], IffUp);
        BinaryPrimitives.WriteUInt32LittleEndian(s[28..], IffUp);
        return msg;
    }
}
