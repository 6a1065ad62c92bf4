using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Sandboxrun.Seccomp;

public static partial class FilterCompiler
{
    /// <summary>
    /// One syscall's rules, in order: the first whose conditions all hold returns its action, and
    /// when none does the default action applies. Every argument test is a 32-bit test of one
    /// word of seccomp_data ((word &amp; mask) == k, or word &gt; k, word &gt;= k), and a 64-bit
    /// comparison is a small tree of them, high half first.
    /// <para>
    /// When optimising, the code after a test is specialised on what the test established
    /// (word == k on one branch, word != k on the other), so a later rule does not repeat a test
    /// whose outcome is already known: after "arg0 == 0xdead_0000_0001" failed in its low half,
    /// "arg0 == 0xdead_0000_0002" only tests the low half, and after it failed in its high half
    /// not at all. Only facts a later test can use are kept (so paths that learnt nothing useful
    /// share their code), and a budget bounds the number of specialised copies.
    /// </para>
    /// </summary>
    private sealed class LeafBuilder(Graph g, List<SeccompRule> rules, SeccompAction defaultAction, bool specialise)
    {
        private readonly Dictionary<string, Node> _rules = new(StringComparer.Ordinal);
        private readonly List<Test>[] _testsFrom = TestsFrom(rules);
        private int _budget = 64 + (8 * rules.Count);

        public Node Build() => Rule(0, Facts.None);

        /// <summary>rules[index..] knowing <paramref name="facts"/>.</summary>
        private Node Rule(int index, Facts facts)
        {
            if (index == rules.Count)
                return g.Ret(defaultAction);
            facts = specialise && _budget > 0 ? facts.UsefulFor(_testsFrom[index]) : Facts.None;
            string key = facts.Key(index);
            if (_rules.TryGetValue(key, out Node? done))
                return done;
            if (!facts.IsEmpty)
                _budget--;
            SeccompRule rule = rules[index];
            Node node = Conditions(index, rule, 0, facts);
            _rules[key] = node;
            return node;
        }

        private Node Conditions(int index, SeccompRule rule, int next, Facts facts) =>
            next == rule.Conditions.Length
                ? g.Ret(rule.Action) // an unconditional rule: the ones after it are never reached
                : Condition(rule.Conditions[next], facts,
                    pass: Once(f => Conditions(index, rule, next + 1, f)),
                    fail: f => Rule(index + 1, f));

        /// <summary>A continuation that builds its code once per set of facts (a comparison can
        /// reach its pass or fail branch from more than one test).</summary>
        private static Func<Facts, Node> Once(Func<Facts, Node> build)
        {
            Node? withoutFacts = null;
            Dictionary<string, Node>? built = null;
            return facts =>
            {
                if (facts.IsEmpty)
                    return withoutFacts ??= build(facts);
                built ??= new Dictionary<string, Node>(StringComparer.Ordinal);
                if (!built.TryGetValue(facts.Key(0), out Node? node))
                {
                    node = build(facts);
                    built[facts.Key(0)] = node;
                }
                return node;
            };
        }

        /// <summary>One 64-bit unsigned comparison as tests on 32-bit halves, high half first: the
        /// high halves decide unless they are equal, then the low halves do. A MaskedEq whose mask
        /// has no bits in a half does not look at that half (how a 32-bit argument is compared).</summary>
        private Node Condition(ArgCondition c, Facts facts, Func<Facts, Node> pass, Func<Facts, Node> fail)
        {
            fail = Once(fail);
            uint lo = Bpf.OffsetArgLow(c.Arg), hi = Bpf.OffsetArgHigh(c.Arg);
            uint vh = (uint)(c.Value >> 32), vl = (uint)c.Value;
            switch (c.Op)
            {
                case ArgOp.Eq:
                    return Test(new(hi, uint.MaxValue, Bpf.JeqK, vh), facts,
                        f => Test(new(lo, uint.MaxValue, Bpf.JeqK, vl), f, pass, fail),
                        fail);
                case ArgOp.Ne:
                    return Test(new(hi, uint.MaxValue, Bpf.JeqK, vh), facts,
                        f => Test(new(lo, uint.MaxValue, Bpf.JeqK, vl), f, fail, pass),
                        pass);
                case ArgOp.Gt or ArgOp.Ge:
                    return Test(new(hi, uint.MaxValue, Bpf.JgtK, vh), facts,
                        pass,
                        f => Test(new(hi, uint.MaxValue, Bpf.JeqK, vh), f,
                            f2 => Test(new(lo, uint.MaxValue, c.Op == ArgOp.Gt ? Bpf.JgtK : Bpf.JgeK, vl), f2, pass, fail),
                            fail));
                case ArgOp.Lt: // not Ge
                    return Condition(c with { Op = ArgOp.Ge }, facts, fail, pass);
                case ArgOp.Le: // not Gt
                    return Condition(c with { Op = ArgOp.Gt }, facts, fail, pass);
                case ArgOp.MaskedEq:
                    if ((c.Value & ~c.Mask) != 0)
                        return fail(facts); // a bit outside the mask can never compare equal
                    uint mh = (uint)(c.Mask >> 32), ml = (uint)c.Mask;
                    Func<Facts, Node> low = ml == 0 ? pass : f => Test(new(lo, ml, Bpf.JeqK, vl), f, pass, fail);
                    return mh == 0 ? low(facts) : Test(new(hi, mh, Bpf.JeqK, vh), facts, low, fail);
                default:
                    throw new ArgumentOutOfRangeException(nameof(c), c.Op, "unknown comparison");
            }
        }

        /// <summary>ld word; [and mask;] jxx k: or no code at all when the facts decide it.</summary>
        private Node Test(Test t, Facts facts, Func<Facts, Node> onTrue, Func<Facts, Node> onFalse)
        {
            if (specialise)
            {
                switch (facts.Decide(t))
                {
                    case true:
                        return onTrue(facts);
                    case false:
                        return onFalse(facts);
                }
            }
            Facts whenTrue = specialise && t.Code == Bpf.JeqK ? facts.With(new Fact(t.Offset, t.Mask, t.K, Equal: true)) : facts;
            Facts whenFalse = specialise && t.Code == Bpf.JeqK ? facts.With(new Fact(t.Offset, t.Mask, t.K, Equal: false)) : facts;
            Node taken = onTrue(whenTrue);
            Node notTaken = onFalse(whenFalse);
            return g.Load(t.Offset, g.And(t.Mask, g.Jump(t.Code, t.K, taken, notTaken)));
        }

        /// <summary>For each index, every test the rules from there on can make.</summary>
        private static List<Test>[] TestsFrom(List<SeccompRule> rules)
        {
            var from = new List<Test>[rules.Count + 1];
            from[rules.Count] = [];
            for (int i = rules.Count - 1; i >= 0; i--)
            {
                from[i] = [.. from[i + 1]];
                foreach (ArgCondition c in rules[i].Conditions)
                {
                    uint lo = Bpf.OffsetArgLow(c.Arg), hi = Bpf.OffsetArgHigh(c.Arg);
                    if (c.Op == ArgOp.MaskedEq)
                    {
                        from[i].Add(new(hi, (uint)(c.Mask >> 32), Bpf.JeqK, (uint)(c.Value >> 32)));
                        from[i].Add(new(lo, (uint)c.Mask, Bpf.JeqK, (uint)c.Value));
                    }
                    else
                    {
                        // Ordered comparisons also test the halves for equality; the facts only
                        // ever decide an ordered test when they pin the whole word.
                        from[i].Add(new(hi, uint.MaxValue, Bpf.JeqK, (uint)(c.Value >> 32)));
                        from[i].Add(new(lo, uint.MaxValue, Bpf.JeqK, (uint)c.Value));
                    }
                }
            }
            return from;
        }
    }

    /// <summary>(word at <paramref name="Offset"/> &amp; <paramref name="Mask"/>) compared with <paramref name="K"/> by <paramref name="Code"/>.</summary>
    private readonly record struct Test(uint Offset, uint Mask, ushort Code, uint K);

    /// <summary>(word &amp; Mask) == Value, or != Value, on the path to here.</summary>
    private readonly record struct Fact(uint Offset, uint Mask, uint Value, bool Equal);

    private sealed class Facts
    {
        private readonly ImmutableArray<Fact> _facts;

        private Facts(ImmutableArray<Fact> facts) => _facts = facts;

        public static Facts None { get; } = new([]);

        public bool IsEmpty => _facts.IsEmpty;

        public Facts With(Fact fact)
        {
            if (_facts.Contains(fact))
                return this;
            // A known value makes the inequalities about the same bits redundant.
            IEnumerable<Fact> kept = fact.Equal
                ? _facts.Where(f => !(f.Offset == fact.Offset && f.Mask == fact.Mask))
                : _facts;
            return new([.. kept.Append(fact).OrderBy(f => f.Offset).ThenBy(f => f.Mask).ThenBy(f => f.Value).ThenBy(f => f.Equal)]);
        }

        /// <summary>The outcome of <paramref name="t"/> if these facts imply it.</summary>
        public bool? Decide(Test t)
        {
            foreach (Fact f in _facts)
            {
                if (Decide(f, t) is bool known)
                    return known;
            }
            return null;
        }

        private static bool? Decide(Fact f, Test t)
        {
            if (f.Offset != t.Offset)
                return null;
            if (f.Equal)
            {
                uint overlap = f.Mask & t.Mask;
                if (t.Code == Bpf.JeqK)
                {
                    if ((f.Value & overlap) != (t.K & overlap))
                        return false; // bits both look at disagree
                    if ((t.Mask & ~f.Mask) == 0)
                        return (f.Value & t.Mask) == t.K; // every bit the test reads is known
                }
                else if (f.Mask == uint.MaxValue && t.Mask == uint.MaxValue)
                {
                    return t.Code == Bpf.JgtK ? f.Value > t.K : f.Value >= t.K;
                }
                return null;
            }
            return t.Code == Bpf.JeqK && f.Mask == t.Mask && f.Value == t.K ? false : null;
        }

        /// <summary>Only the facts that decide at least one of <paramref name="tests"/>.</summary>
        public Facts UsefulFor(List<Test> tests)
        {
            if (_facts.IsEmpty)
                return this;
            ImmutableArray<Fact> useful = [.. _facts.Where(f => tests.Exists(t => Decide(f, t) is not null))];
            return useful.Length == _facts.Length ? this : useful.IsEmpty ? None : new(useful);
        }

        private string? _key;

        /// <summary>The facts as text, after <paramref name="index"/> (which rule they hold for).</summary>
        public string Key(int index)
        {
            if (_key is null)
            {
                var key = new StringBuilder();
                foreach (Fact f in _facts)
                    key.Append(CultureInfo.InvariantCulture, $"|{f.Offset}:{f.Mask:x}{(f.Equal ? '=' : '!')}{f.Value:x}");
                _key = key.ToString();
            }
            return index.ToString(CultureInfo.InvariantCulture) + _key;
        }
    }
}
