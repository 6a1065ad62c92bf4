using System.Collections.Immutable;
using System.Globalization;

namespace Sandboxrun.Seccomp;

/// <param name="Instructions">Program length.</param>
/// <param name="Syscalls">Distinct syscalls that have rules.</param>
/// <param name="Rules">Rules given (including ones shadowed by an earlier unconditional rule).</param>
/// <param name="MaxDepth">The most instructions one call can execute.</param>
/// <param name="Trampolines">Instructions added because a conditional jump could not reach its target.</param>
public sealed record FilterStats(int Instructions, int Syscalls, int Rules, int MaxDepth, int Trampolines);

public sealed record CompiledFilter(ImmutableArray<BpfInstruction> Program, FilterStats Stats);

/// <param name="Optimize">Merge identical code, fold constant jumps, skip tests whose outcome an
/// earlier test on the path decided, drop redundant loads, coalesce runs of syscall numbers with
/// the same rules into ranges, then the linear <see cref="Peephole"/>. Off, the program is the
/// plain decision tree (the reference the optimiser is tested against).</param>
/// <param name="X32Action">What an x32 call gets (default EPERM); only for architectures with an x32 ABI.</param>
public sealed record CompileOptions(bool Optimize = true, SeccompAction? X32Action = null);

/// <summary>Either a filter or the reason there is none (an expected outcome, not an exception).</summary>
public readonly record struct CompileResult(CompiledFilter? Filter, string? Error);

/// <summary>
/// rules + default action + architecture -> classic BPF, as a pure function. Program shape
/// (gVisor's, and Chromium's before it):
/// <code>
///   ld  [arch]; jeq AUDIT_ARCH -> else ret KILL_PROCESS   (i386 int 0x80 and any foreign ABI)
///   ld  [nr];   jge 0x40000000 -> ret x32 action          (x86_64: the x32 ABI)
///   balanced binary search (jge) over the sorted syscall numbers that have rules
///     leaf: the syscall's rules in order, each an AND of argument tests on 32-bit halves
///           (high half first), first match returns its action; no match: default action
///   numbers without rules: ret default action
/// </code>
/// The program is built as a DAG of single instructions (identical code shared when
/// optimising), laid out in reverse post-order (every jump goes forward, the not-taken branch
/// falls through), and conditional jumps farther than 255 instructions are bent through a
/// <c>ja</c> (or a copy of the <c>ret</c> they aim at) placed within reach. docs/seccomp.md
/// walks through an example.
/// </summary>
public static partial class FilterCompiler
{
    private const int EPERM = 1;

    public static CompileResult Compile(IEnumerable<SeccompRule> rules, SeccompAction defaultAction, Architecture architecture, CompileOptions? options = null)
    {
        options ??= new CompileOptions();
        List<SeccompRule> list = [.. rules];
        foreach (SeccompRule rule in list)
        {
            if (architecture.HasX32Abi && rule.Syscall >= Bpf.X32SyscallBit)
                return new(null, string.Create(CultureInfo.InvariantCulture, $"syscall number {rule.Syscall} is outside the {architecture.Name} native range"));
            foreach (ArgCondition c in rule.Conditions)
            {
                if (c.Arg is < 0 or >= ArgCondition.MaxArgs)
                    return new(null, string.Create(CultureInfo.InvariantCulture, $"syscall {rule.Syscall}: argument index {c.Arg} is not in 0..5"));
            }
        }

        var graph = new Graph(options.Optimize);
        Node root = BuildTree(graph, list, defaultAction, architecture, options);
        if (options.Optimize)
            root = EliminateRedundantLoads(graph, root);

        List<Slot> slots = Layout(root);
        int trampolines = FixFarJumps(slots, out string? error);
        if (error is not null)
            return new(null, error);
        ImmutableArray<BpfInstruction> program = Encode(slots);
        if (options.Optimize)
            program = Peephole.Optimize(program);
        if (BpfProgram.Validate(program) is string invalid)
            throw new InvalidOperationException("seccomp compiler produced an invalid program: " + invalid);

        var stats = new FilterStats(program.Length, list.Select(r => r.Syscall).Distinct().Count(), list.Count, BpfProgram.MaxDepth(program), trampolines);
        return new(new CompiledFilter(program, stats), null);
    }

    // ---- the decision DAG ----

    /// <summary>One instruction and where control goes next. For loads and ALU ops
    /// <see cref="True"/> is the successor; conditional jumps use both.</summary>
    private sealed class Node(ushort code, uint k, Node? onTrue, Node? onFalse)
    {
        public ushort Code { get; } = code;
        public uint K { get; } = k;
        public Node? True { get; } = onTrue;
        public Node? False { get; } = onFalse;
        public bool IsJump => Bpf.IsConditionalJump(Code);
    }

    /// <summary>Makes nodes; when optimising, identical nodes are made once (so identical
    /// tails, returns included, are shared) and jumps whose outcome is known are folded.</summary>
    private sealed class Graph(bool optimize)
    {
        private readonly Dictionary<(ushort, uint, Node?, Node?), Node> _nodes = [];

        public Node Ret(SeccompAction action) => Make(Bpf.RetK, action.ToReturnValue(), null, null);

        public Node Load(uint offset, Node next) => Make(Bpf.LdWAbs, offset, next, null);

        /// <summary>A &amp;= mask, unless the mask keeps every bit.</summary>
        public Node And(uint mask, Node next) => mask == uint.MaxValue ? next : Make(Bpf.AndK, mask, next, null);

        public Node Jump(ushort code, uint k, Node onTrue, Node onFalse) => Make(code, k, onTrue, onFalse);

        public Node Make(ushort code, uint k, Node? onTrue, Node? onFalse)
        {
            if (!optimize)
                return new Node(code, k, onTrue, onFalse);
            if (Bpf.IsConditionalJump(code))
            {
                if (onTrue == onFalse)
                    return onTrue!;
                if (code == Bpf.JgeK && k == 0)
                    return onTrue!;
                if ((code == Bpf.JgtK && k == uint.MaxValue) || (code == Bpf.JsetK && k == 0))
                    return onFalse!;
            }
            else if ((code is Bpf.LdWAbs or Bpf.AndK) && (onTrue!.Code is Bpf.RetK or Bpf.LdWAbs))
            {
                return onTrue; // A is overwritten or never read again
            }
            (ushort, uint, Node?, Node?) key = (code, k, onTrue, onFalse);
            if (!_nodes.TryGetValue(key, out Node? node))
            {
                node = new Node(code, k, onTrue, onFalse);
                _nodes.Add(key, node);
            }
            return node;
        }
    }

    private static Node BuildTree(Graph g, List<SeccompRule> rules, SeccompAction defaultAction, Architecture arch, CompileOptions options)
    {
        // Leaves in syscall order; a syscall's rules keep the order they were given in.
        var leaves = new List<(uint First, uint Last, Node Leaf)>();
        foreach (IGrouping<uint, SeccompRule> group in rules.GroupBy(r => r.Syscall).OrderBy(r => r.Key))
        {
            List<SeccompRule> groupRules = [.. group];
            Node leaf = new LeafBuilder(g, groupRules, defaultAction, specialise: false).Build();
            if (options.Optimize && groupRules.Count(r => !r.Conditions.IsEmpty) >= 2)
            {
                // Specialising on known facts makes each path shorter but may copy code; keep it
                // only when the leaf does not grow.
                Node specialised = new LeafBuilder(g, groupRules, defaultAction, specialise: true).Build();
                if (Size(specialised) <= Size(leaf))
                    leaf = specialised;
            }
            if (options.Optimize && leaf == g.Ret(defaultAction))
                continue; // every path ends in the default action anyway
            if (options.Optimize && leaves.Count > 0 && leaves[^1].Last + 1 == group.Key && leaves[^1].Leaf == leaf)
                leaves[^1] = (leaves[^1].First, group.Key, leaf); // same decision for a run of numbers: one range
            else
                leaves.Add((group.Key, group.Key, leaf));
        }

        uint maxNumber = arch.HasX32Abi ? Bpf.X32SyscallBit - 1 : uint.MaxValue;
        Node search = Search(g, leaves, 0, leaves.Count, 0, maxNumber, defaultAction);
        if (arch.HasX32Abi)
            search = g.Jump(Bpf.JgeK, Bpf.X32SyscallBit, g.Ret(options.X32Action ?? SeccompAction.Errno(EPERM)), search);
        Node native = g.Load(Bpf.OffsetNr, search);
        return g.Load(Bpf.OffsetArch, g.Jump(Bpf.JeqK, arch.AuditArch, native, g.Ret(SeccompAction.KillProcess)));
    }

    /// <summary>Distinct instructions reachable from <paramref name="root"/>.</summary>
    private static int Size(Node root)
    {
        var seen = new HashSet<Node>();
        var stack = new Stack<Node>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            Node n = stack.Pop();
            if (!seen.Add(n))
                continue;
            if (n.True is not null)
                stack.Push(n.True);
            if (n.False is not null)
                stack.Push(n.False);
        }
        return seen.Count;
    }

    /// <summary>How many jumps <see cref="Search"/> emits for leaves[from..to) (numbers next to
    /// each other need no test of their own once the splits have bounded them).</summary>
    private static int SearchSize(List<(uint First, uint Last, Node Leaf)> leaves, int from, int to, uint min, uint max)
    {
        if (to - from == 0)
            return 0;
        if (to - from == 1)
        {
            (uint first, uint last, _) = leaves[from];
            bool checkLow = first > min, checkHigh = last < max;
            return checkLow && checkHigh && first == last ? 1 : (checkLow ? 1 : 0) + (checkHigh ? 1 : 0);
        }
        int middle = from + ((to - from) / 2);
        uint split = leaves[middle].First;
        return 1 + SearchSize(leaves, middle, to, split, max) + SearchSize(leaves, from, middle, min, split - 1);
    }

    /// <summary>
    /// Binary search over leaves[from..to), knowing min &lt;= nr &lt;= max. Each split is
    /// <c>jge first-of-the-middle-leaf</c>, which also tells each half one of its bounds, so a
    /// range leaf tests only the bounds not already known.
    /// </summary>
    private static Node Search(Graph g, List<(uint First, uint Last, Node Leaf)> leaves, int from, int to, uint min, uint max, SeccompAction defaultAction)
    {
        if (from == to)
            return g.Ret(defaultAction);
        if (to - from <= 3 && Enumerable.Range(from, to - from).All(i => leaves[i].First == leaves[i].Last)
            && to - from < SearchSize(leaves, from, to, min, max))
        {
            // Up to three scattered numbers: a chain of jeq is no deeper than splits, and shorter.
            Node chain = g.Ret(defaultAction);
            for (int i = to - 1; i >= from; i--)
                chain = g.Jump(Bpf.JeqK, leaves[i].First, leaves[i].Leaf, chain);
            return chain;
        }
        if (to - from == 1)
        {
            (uint first, uint last, Node leaf) = leaves[from];
            bool checkLow = first > min, checkHigh = last < max;
            if (checkLow && checkHigh && first == last)
                return g.Jump(Bpf.JeqK, first, leaf, g.Ret(defaultAction));
            Node node = leaf;
            if (checkHigh)
                node = g.Jump(Bpf.JgtK, last, g.Ret(defaultAction), node);
            if (checkLow)
                node = g.Jump(Bpf.JgeK, first, node, g.Ret(defaultAction));
            return node;
        }
        int middle = from + ((to - from) / 2);
        uint split = leaves[middle].First;
        return g.Jump(Bpf.JgeK, split,
            Search(g, leaves, middle, to, split, max, defaultAction),
            Search(g, leaves, from, middle, min, split - 1, defaultAction));
    }

    /// <summary>
    /// Drops a load whose word A already holds on every path into it (a jump leaves A as it was),
    /// e.g. the second rule of a syscall testing the same argument as the first.
    /// </summary>
    private static Node EliminateRedundantLoads(Graph g, Node root)
    {
        const long Unknown = -1;
        var entry = new Dictionary<Node, long> { [root] = Unknown };
        foreach (Node n in ReversePostOrder(root))
        {
            long state = entry[n];
            long exit = n.Code switch
            {
                Bpf.LdWAbs => n.K,
                Bpf.AndK => Unknown,
                _ => state,
            };
            foreach (Node? child in (ReadOnlySpan<Node?>)[n.True, n.False])
            {
                if (child is null)
                    continue;
                entry[child] = entry.TryGetValue(child, out long seen) && seen != exit ? Unknown : exit;
            }
        }

        if (!entry.Any(e => e.Key.Code == Bpf.LdWAbs && e.Value == e.Key.K))
            return root;
        var rebuilt = new Dictionary<Node, Node>();
        Node Rebuild(Node n)
        {
            if (rebuilt.TryGetValue(n, out Node? done))
                return done;
            Node result = n.Code == Bpf.LdWAbs && entry[n] == n.K
                ? Rebuild(n.True!)
                : g.Make(n.Code, n.K, n.True is null ? null : Rebuild(n.True), n.False is null ? null : Rebuild(n.False));
            rebuilt[n] = result;
            return result;
        }
        return Rebuild(root);
    }

    /// <summary>
    /// Reverse post-order of a depth-first walk that visits the taken branch first: a topological
    /// order (so every edge points forward) in which a node's not-taken branch, and a load's
    /// successor, come right after it unless they are shared with code placed later.
    /// </summary>
    private static List<Node> ReversePostOrder(Node root)
    {
        var post = new List<Node>();
        var visited = new HashSet<Node> { root };
        var stack = new Stack<(Node Node, int Child)>();
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            (Node node, int child) = stack.Pop();
            Node? next = child switch
            {
                0 => node.True,
                1 => node.False,
                _ => null,
            };
            if (child >= 2)
            {
                post.Add(node);
                continue;
            }
            stack.Push((node, child + 1));
            if (next is not null && visited.Add(next))
                stack.Push((next, 0));
        }
        post.Reverse();
        return post;
    }

    // ---- layout ----

    /// <summary>An instruction being placed; jump targets are slots, so inserting code never
    /// invalidates them. Loads and ALU ops continue at the next slot.</summary>
    private sealed class Slot(ushort code, uint k)
    {
        public ushort Code { get; } = code;
        public uint K { get; } = k;
        public Slot? True { get; set; }  // conditional: taken; ja: target
        public Slot? False { get; set; } // conditional: not taken
        public int Index { get; set; }
        public bool FallsThrough => Code is Bpf.LdWAbs or Bpf.AndK;
    }

    private static List<Slot> Layout(Node root)
    {
        List<Node> order = ReversePostOrder(root);
        var slotOf = new Dictionary<Node, Slot>(order.Count);
        foreach (Node n in order)
            slotOf[n] = new Slot(n.Code, n.K);
        var slots = new List<Slot>(order.Count + 8);
        for (int i = 0; i < order.Count; i++)
        {
            Node n = order[i];
            Slot s = slotOf[n];
            slots.Add(s);
            if (n.IsJump)
            {
                s.True = slotOf[n.True!];
                s.False = slotOf[n.False!];
            }
            else if (n.Code != Bpf.RetK && (i + 1 == order.Count || order[i + 1] != n.True))
            {
                // The successor is shared and placed later. A jump or return is copied here (same
                // size as a ja, one instruction less to execute; its targets lie further on still).
                Node next = n.True!;
                slots.Add(next.IsJump ? new Slot(next.Code, next.K) { True = slotOf[next.True!], False = slotOf[next.False!] }
                    : next.Code == Bpf.RetK ? new Slot(Bpf.RetK, next.K)
                    : new Slot(Bpf.Ja, 0) { True = slotOf[next] });
            }
        }
        return slots;
    }

    /// <summary>
    /// Makes every conditional jump reach its targets within 255 instructions, the way assemblers
    /// place literal pools. A too-far target gets a stand-in within reach: an existing <c>ret</c>
    /// of the same value or <c>ja</c> to the same target if one is near, else an entry in a pool
    /// inserted at a point no load falls through, at most 255 - <see cref="PoolSlack"/> after the
    /// jump; later far jumps share the pool while it is within their reach. Pools lengthen the
    /// jumps that span them, so rounds repeat until nothing is too far. Returns the number of
    /// instructions inserted.
    /// </summary>
    private static int FixFarJumps(List<Slot> slots, out string? error)
    {
        error = null;
        int inserted = 0;
        while (true)
        {
            if (slots.Count > Bpf.MaxInstructions)
            {
                error = $"the filter needs {slots.Count} instructions or more; the kernel accepts at most {Bpf.MaxInstructions} (BPF_MAXINSNS)";
                return inserted;
            }
            Reindex(slots);
            var pools = new List<(int At, List<Slot> Entries)>();
            bool far = false;
            for (int i = 0; i < slots.Count; i++)
            {
                Slot s = slots[i];
                if (!Bpf.IsConditionalJump(s.Code))
                    continue;
                for (int branch = 0; branch < 2; branch++)
                {
                    Slot target = branch == 0 ? s.True! : s.False!;
                    if (target.Index - i - 1 <= Bpf.MaxConditionalOffset)
                        continue;
                    far = true;
                    int deadline = Math.Min(i + 1 + Bpf.MaxConditionalOffset - PoolSlack, target.Index - 1);
                    Slot? stand = null;
                    for (int j = deadline; j > i && stand is null; j--)
                    {
                        if (Serves(slots[j], target))
                            stand = slots[j];
                    }
                    if (stand is null)
                    {
                        if (pools.Count == 0 || pools[^1].At <= i || pools[^1].At > deadline)
                        {
                            int at = deadline;
                            while (at > i + 1 && slots[at - 1].FallsThrough)
                                at--;
                            pools.Add((at, []));
                        }
                        List<Slot> entries = pools[^1].Entries;
                        stand = entries.Find(e => Serves(e, target));
                        if (stand is null)
                        {
                            stand = target.Code == Bpf.RetK ? new Slot(Bpf.RetK, target.K) : new Slot(Bpf.Ja, 0) { True = target };
                            entries.Add(stand);
                        }
                    }
                    if (branch == 0)
                        s.True = stand;
                    else
                        s.False = stand;
                }
            }
            if (!far)
                return inserted;
            for (int p = pools.Count - 1; p >= 0; p--)
            {
                slots.InsertRange(pools[p].At, pools[p].Entries);
                inserted += pools[p].Entries.Count;
            }
        }
    }

    /// <summary>Room left in a pool jump's reach for the pool's own entries and for code later
    /// rounds insert between the jump and the pool.</summary>
    private const int PoolSlack = 16;

    /// <summary>Whether jumping to <paramref name="slot"/> has the same effect as jumping to <paramref name="target"/>.</summary>
    private static bool Serves(Slot slot, Slot target) =>
        slot == target
        || (slot.Code == Bpf.Ja && slot.True == target)
        || (target.Code == Bpf.RetK && slot.Code == Bpf.RetK && slot.K == target.K);

    private static void Reindex(List<Slot> slots)
    {
        for (int i = 0; i < slots.Count; i++)
            slots[i].Index = i;
    }

    private static ImmutableArray<BpfInstruction> Encode(List<Slot> slots)
    {
        Reindex(slots);
        var program = ImmutableArray.CreateBuilder<BpfInstruction>(slots.Count);
        foreach (Slot s in slots)
        {
            program.Add(s.Code switch
            {
                Bpf.Ja => new BpfInstruction(Bpf.Ja, 0, 0, (uint)(s.True!.Index - s.Index - 1)),
                _ when Bpf.IsConditionalJump(s.Code) =>
                    new BpfInstruction(s.Code, checked((byte)(s.True!.Index - s.Index - 1)), checked((byte)(s.False!.Index - s.Index - 1)), s.K),
                _ => new BpfInstruction(s.Code, 0, 0, s.K),
            });
        }
        return program.MoveToImmutable();
    }
}
