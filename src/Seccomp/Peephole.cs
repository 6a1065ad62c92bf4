using System.Collections.Immutable;

namespace Sandboxrun.Seccomp;

/// <summary>
/// Lossless clean-up of a finished program: thread jumps through <c>ja</c> chains (a conditional
/// only while the final target stays within 255), turn a <c>ja</c> to a <c>ret</c> into that
/// <c>ret</c>, turn a conditional with both branches equal into a <c>ja</c>, then drop <c>ja +0</c>
/// and every instruction no path reaches. Removing code only shortens jumps, so every offset still
/// fits. The result returns the same value as the input for every seccomp_data.
/// </summary>
public static class Peephole
{
    public static ImmutableArray<BpfInstruction> Optimize(ImmutableArray<BpfInstruction> program)
    {
        int n = program.Length;
        var code = new ushort[n];
        var k = new uint[n];
        var jt = new int[n]; // absolute targets
        var jf = new int[n];
        for (int i = 0; i < n; i++)
        {
            BpfInstruction ins = program[i];
            (code[i], k[i]) = (ins.Code, ins.K);
            if (ins.Code == Bpf.Ja)
                jt[i] = i + 1 + (int)ins.K;
            else if (Bpf.IsConditionalJump(ins.Code))
                (jt[i], jf[i]) = (i + 1 + ins.Jt, i + 1 + ins.Jf);
        }

        // Later instructions first: a ja's own target is already threaded when it is looked at.
        for (int i = n - 1; i >= 0; i--)
        {
            if (code[i] == Bpf.Ja)
            {
                int t = jt[i];
                if (code[t] == Bpf.Ja)
                    t = jt[t];
                jt[i] = t;
                if (code[t] == Bpf.RetK)
                    (code[i], k[i]) = (Bpf.RetK, k[t]);
            }
            else if (Bpf.IsConditionalJump(code[i]))
            {
                jt[i] = Thread(i, jt[i]);
                jf[i] = Thread(i, jf[i]);
                if (jt[i] == jf[i])
                    code[i] = Bpf.Ja;
            }
        }

        int Thread(int from, int target)
        {
            while (code[target] == Bpf.Ja && jt[target] - from - 1 <= Bpf.MaxConditionalOffset)
                target = jt[target];
            return target;
        }

        // Reachability (all edges go forward, so one pass in order).
        var reached = new bool[n];
        reached[0] = true;
        for (int i = 0; i < n; i++)
        {
            if (!reached[i])
                continue;
            if (code[i] == Bpf.RetK)
                continue;
            if (code[i] == Bpf.Ja)
                reached[jt[i]] = true;
            else if (Bpf.IsConditionalJump(code[i]))
                reached[jt[i]] = reached[jf[i]] = true;
            else
                reached[i + 1] = true;
        }
        var keep = new bool[n];
        for (int i = 0; i < n; i++)
            keep[i] = reached[i] && !(code[i] == Bpf.Ja && jt[i] == i + 1);

        // newIndex[i]: where the first kept instruction at or after i lands.
        var newIndex = new int[n + 1];
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            newIndex[i] = count;
            if (keep[i])
                count++;
        }
        newIndex[n] = count;
        for (int i = n - 1; i >= 0; i--)
        {
            if (!keep[i])
                newIndex[i] = newIndex[i + 1];
        }

        var result = ImmutableArray.CreateBuilder<BpfInstruction>(count);
        for (int i = 0; i < n; i++)
        {
            if (!keep[i])
                continue;
            int at = newIndex[i];
            result.Add(code[i] switch
            {
                Bpf.Ja => new BpfInstruction(Bpf.Ja, 0, 0, (uint)(newIndex[jt[i]] - at - 1)),
                _ when Bpf.IsConditionalJump(code[i]) =>
                    new BpfInstruction(code[i], checked((byte)(newIndex[jt[i]] - at - 1)), checked((byte)(newIndex[jf[i]] - at - 1)), k[i]),
                _ => new BpfInstruction(code[i], 0, 0, k[i]),
            });
        }
        return result.MoveToImmutable();
    }
}
