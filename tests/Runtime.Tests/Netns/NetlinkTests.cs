using Xunit;
using Sandboxrun.Netns;

namespace Sandboxrun.Tests.Netns;

public sealed class NetlinkTests
{
    [Fact]
    public void SetLinkUpIsAnAcknowledgedNewLinkWithIffUp()
    {
        byte[] m = Netlink.SetLinkUp(Netlink.LoopbackIndex, sequence: 7);
        Assert.Equal(
            new byte[]
            {
                32, 0, 0, 0, 16, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr: len 32, RTM_NEWLINK, REQUEST|ACK, seq 7
                0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,   // ifinfomsg: AF_UNSPEC, index 1, flags/change IFF_UP
            },
            m);
    }
}
