using System.Collections.Immutable;

namespace Sandboxrun.Landlock;

/// <summary>How a path is granted by the policy.</summary>
public enum PathGrant
{
    ReadOnly,
    ReadWrite,
    Execute,
}

public sealed record PathRequest(string Path, PathGrant Grant, string Origin);

/// <summary>What the policy asks Landlock for (already resolved to sandbox paths).</summary>
public sealed record LandlockRequest(
    ImmutableArray<PathRequest> Paths,
    // True when an execute allow-list exists: only Execute grants may execute.
    bool ExecuteAllowList,
    ImmutableArray<int>? TcpBind,
    ImmutableArray<int>? TcpConnect,
    // Always connectable when TcpConnect restricts connections (the egress proxy).
    int? AlwaysConnectablePort,
    bool BestEffort);

public sealed record PathRule(string Path, FsAccess Access);

public sealed record PortRule(int Port, NetAccess Access);

/// <summary>The ruleset to create: handled rights, rules, and what was dropped for this kernel.</summary>
public sealed record LandlockPlan(
    int Abi,
    FsAccess HandledFs,
    NetAccess HandledNet,
    Scope Scoped,
    ImmutableArray<PathRule> PathRules,
    ImmutableArray<PortRule> PortRules,
    ImmutableArray<string> Dropped);

public sealed record LandlockPlanResult(LandlockPlan? Plan, ImmutableArray<string> Errors, ImmutableArray<string> Dropped);

/// <summary>
/// Policy grants + kernel ABI + compatibility mode -> ruleset. Pure. Handled rights are every
/// right the ABI knows, so anything no rule grants is denied; rights the kernel lacks are
/// dropped out loud (best_effort) or refused (hard_requirement).
/// </summary>
public static class LandlockPlanner
{
    public const FsAccess ReadRights = FsAccess.ReadFile | FsAccess.ReadDir;

    public const FsAccess WriteRights = FsAccess.WriteFile | FsAccess.RemoveDir | FsAccess.RemoveFile | FsAccess.MakeDir
        | FsAccess.MakeReg | FsAccess.MakeSock | FsAccess.MakeFifo | FsAccess.MakeSym | FsAccess.Refer | FsAccess.Truncate | FsAccess.IoctlDev;

    /// <summary>The rights a grant asks for, before the kernel's ABI is considered.</summary>
    public static FsAccess Wanted(PathGrant grant, bool executeAllowList) => grant switch
    {
        PathGrant.ReadOnly => ReadRights | (executeAllowList ? FsAccess.None : FsAccess.Execute),
        PathGrant.ReadWrite => ReadRights | WriteRights | (executeAllowList ? FsAccess.None : FsAccess.Execute),
        PathGrant.Execute => ReadRights | FsAccess.Execute,
        _ => throw new ArgumentOutOfRangeException(nameof(grant)),
    };

    public static LandlockPlanResult Plan(LandlockRequest request, int kernelAbi)
    {
        int abi = LandlockAbi.Effective(kernelAbi);
        var errors = ImmutableArray.CreateBuilder<string>();
        var dropped = ImmutableArray.CreateBuilder<string>();
        void Lacking(string what)
        {
            if (request.BestEffort)
                dropped.Add(what);
            else
                errors.Add(what);
        }

        if (abi == 0)
        {
            Lacking("Landlock is not available on this kernel (filesystem rules then rest on mounts alone; execute, tcp and scope rules are not enforced)");
            return new LandlockPlanResult(null, errors.ToImmutable(), dropped.ToImmutable());
        }

        FsAccess supportedFs = LandlockAbi.Fs(abi);
        FsAccess wantedAll = FsAccess.None;
        var pathRules = ImmutableArray.CreateBuilder<PathRule>();
        foreach (PathRequest p in request.Paths)
        {
            FsAccess wanted = Wanted(p.Grant, request.ExecuteAllowList);
            wantedAll |= wanted;
            pathRules.Add(new PathRule(p.Path, wanted & supportedFs));
        }
        foreach (FsAccess right in Enum.GetValues<FsAccess>())
        {
            if (right != FsAccess.None && wantedAll.HasFlag(right) && !supportedFs.HasFlag(right))
                Lacking($"filesystem right {LandlockAbi.Describe(right)} needs Landlock ABI {LandlockAbi.Introduced(right)}; this kernel has ABI {abi}");
        }

        NetAccess handledNet = NetAccess.None;
        var portRules = ImmutableArray.CreateBuilder<PortRule>();
        bool wantsNet = request.TcpBind is not null || request.TcpConnect is not null;
        if (wantsNet && LandlockAbi.Net(abi) == NetAccess.None)
        {
            Lacking($"landlock.tcp_bind/tcp_connect need Landlock ABI 4; this kernel has ABI {abi}");
        }
        else
        {
            if (request.TcpBind is { } bind)
            {
                handledNet |= NetAccess.BindTcp;
                foreach (int port in bind.Distinct())
                    portRules.Add(new PortRule(port, NetAccess.BindTcp));
            }
            if (request.TcpConnect is { } connect)
            {
                handledNet |= NetAccess.ConnectTcp;
                IEnumerable<int> ports = request.AlwaysConnectablePort is int proxy ? connect.Append(proxy) : connect;
                foreach (int port in ports.Distinct())
                    portRules.Add(new PortRule(port, NetAccess.ConnectTcp));
            }
        }

        Scope scoped = LandlockAbi.Scopes(abi);
        if (scoped == Scope.None)
            Lacking($"scoping of abstract unix sockets and signals needs Landlock ABI 6; this kernel has ABI {abi}");

        if (errors.Count > 0)
            return new LandlockPlanResult(null, errors.ToImmutable(), dropped.ToImmutable());
        var plan = new LandlockPlan(abi, supportedFs, handledNet, scoped, Merge(pathRules), portRules.ToImmutable(), dropped.ToImmutable());
        return new LandlockPlanResult(plan, [], dropped.ToImmutable());
    }

    /// <summary>One rule per path: a path listed twice gets the union of its grants.</summary>
    private static ImmutableArray<PathRule> Merge(IEnumerable<PathRule> rules) =>
        [.. rules.GroupBy(r => r.Path, StringComparer.Ordinal).Select(g => new PathRule(g.Key, g.Aggregate(FsAccess.None, (a, r) => a | r.Access)))];
}
