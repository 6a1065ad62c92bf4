using System.Collections.Immutable;
using Sandboxrun.Landlock;
using Xunit;

namespace Sandboxrun.Tests.Landlock;

/// <summary>ABI negotiation is a pure function: a table over ABI 0..8 and both compatibility modes.</summary>
public sealed class LandlockPlannerTests
{
    private static LandlockRequest Request(bool bestEffort, bool net = false, bool exec = false) => new(
        [new PathRequest("/usr", PathGrant.ReadOnly, "t"), new PathRequest("/work", PathGrant.ReadWrite, "t"),
         .. exec ? [new PathRequest("/usr/bin", PathGrant.Execute, "t")] : ImmutableArray<PathRequest>.Empty],
        exec, net ? [8081] : null, net ? [] : null, 3128, bestEffort);

    public static TheoryData<int> Abis => new() { 0, 1, 2, 3, 4, 5, 6, 7, 8 };

    [Theory]
    [MemberData(nameof(Abis))]
    public void BestEffortDropsOnlyWhatTheKernelLacksAndSaysSo(int abi)
    {
        LandlockPlanResult r = LandlockPlanner.Plan(Request(bestEffort: true, net: true), abi);
        Assert.Empty(r.Errors);
        if (abi == 0)
        {
            Assert.Null(r.Plan);
            Assert.Single(r.Dropped);
            return;
        }
        LandlockPlan p = r.Plan!;
        Assert.Equal(Math.Min(abi, 7), p.Abi);
        Assert.Equal(LandlockAbi.Fs(p.Abi), p.HandledFs); // everything the kernel knows is handled: deny by default
        PathRule work = p.PathRules.Single(x => x.Path == "/work");
        Assert.Equal(abi >= 2, work.Access.HasFlag(FsAccess.Refer));
        Assert.Equal(abi >= 3, work.Access.HasFlag(FsAccess.Truncate));
        Assert.Equal(abi >= 5, work.Access.HasFlag(FsAccess.IoctlDev));
        Assert.Equal(abi >= 4 ? NetAccess.BindTcp | NetAccess.ConnectTcp : NetAccess.None, p.HandledNet);
        Assert.Equal(abi >= 6 ? Scope.AbstractUnixSocket | Scope.Signal : Scope.None, p.Scoped);
        int expectedDrops = (abi < 2 ? 1 : 0) + (abi < 3 ? 1 : 0) + (abi < 5 ? 1 : 0) + (abi < 4 ? 1 : 0) + (abi < 6 ? 1 : 0);
        Assert.Equal(expectedDrops, r.Dropped.Length);
        Assert.All(r.Dropped, d => Assert.Contains($"this kernel has ABI {p.Abi}", d, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Abis))]
    public void HardRequirementFailsWhenAnyRequestedRightIsMissing(int abi)
    {
        LandlockPlanResult r = LandlockPlanner.Plan(Request(bestEffort: false, net: true), abi);
        if (abi >= 6)
        {
            Assert.NotNull(r.Plan);
            Assert.Empty(r.Errors);
        }
        else
        {
            Assert.Null(r.Plan);
            Assert.NotEmpty(r.Errors);
            Assert.Empty(r.Dropped);
        }
    }

    [Fact]
    public void ReadOnlyReadWriteAndExecuteGrants()
    {
        LandlockPlan p = LandlockPlanner.Plan(Request(bestEffort: false), 7).Plan!;
        Assert.Equal(FsAccess.ReadFile | FsAccess.ReadDir | FsAccess.Execute, p.PathRules.Single(x => x.Path == "/usr").Access);
        FsAccess rw = p.PathRules.Single(x => x.Path == "/work").Access;
        Assert.True(rw.HasFlag(FsAccess.WriteFile | FsAccess.MakeReg | FsAccess.RemoveFile | FsAccess.Refer | FsAccess.Truncate));
        Assert.False(rw.HasFlag(FsAccess.MakeChar) || rw.HasFlag(FsAccess.MakeBlock)); // never device nodes

        LandlockPlan e = LandlockPlanner.Plan(Request(bestEffort: false, exec: true), 7).Plan!;
        Assert.False(e.PathRules.Single(x => x.Path == "/work").Access.HasFlag(FsAccess.Execute)); // only the execute list executes
        Assert.Equal(FsAccess.ReadFile | FsAccess.ReadDir | FsAccess.Execute, e.PathRules.Single(x => x.Path == "/usr/bin").Access);
    }

    [Fact]
    public void TcpListsRestrictAndTheProxyStaysConnectable()
    {
        LandlockPlan p = LandlockPlanner.Plan(Request(bestEffort: false, net: true), 7).Plan!;
        Assert.Contains(new PortRule(8081, NetAccess.BindTcp), p.PortRules);
        Assert.Contains(new PortRule(3128, NetAccess.ConnectTcp), p.PortRules);
        Assert.Equal(2, p.PortRules.Length);

        LandlockPlan open = LandlockPlanner.Plan(Request(bestEffort: false), 7).Plan!;
        Assert.Equal(NetAccess.None, open.HandledNet); // absent lists: the private loopback stays usable
    }

    [Fact]
    public void APathListedTwiceGetsTheUnionOfItsGrants()
    {
        var req = new LandlockRequest([new PathRequest("/a", PathGrant.ReadOnly, "t"), new PathRequest("/a", PathGrant.ReadWrite, "t")], false, null, null, null, false);
        PathRule rule = Assert.Single(LandlockPlanner.Plan(req, 7).Plan!.PathRules);
        Assert.True(rule.Access.HasFlag(FsAccess.WriteFile));
    }

    [Fact]
    public void AbiTableMatchesTheKernelDocumentation()
    {
        Assert.Equal((FsAccess)0x1FFF, LandlockAbi.Fs(1));
        Assert.Equal((FsAccess)0x3FFF, LandlockAbi.Fs(2));
        Assert.Equal((FsAccess)0x7FFF, LandlockAbi.Fs(3));
        Assert.Equal((FsAccess)0x7FFF, LandlockAbi.Fs(4));
        Assert.Equal((FsAccess)0xFFFF, LandlockAbi.Fs(5));
        Assert.Equal((FsAccess)0xFFFF, LandlockAbi.Fs(7));
        Assert.Equal(7, LandlockAbi.Effective(9)); // newer than known: used as the newest known
    }

    [Fact]
    public void PathBeneathAttrIsPacked()
    {
        unsafe
        {
            Assert.Equal(12, sizeof(Sandboxrun.Landlock.Interop.Landlock.PathBeneathAttr));
            Assert.Equal(16, sizeof(Sandboxrun.Landlock.Interop.Landlock.NetPortAttr));
            Assert.Equal(24, sizeof(Sandboxrun.Landlock.Interop.Landlock.RulesetAttr));
        }
    }
}
