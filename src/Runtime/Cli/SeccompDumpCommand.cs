using System.Collections.Immutable;
using Sandboxrun.Plan;
using Sandboxrun.Policy;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Cli;

/// <summary>
/// `sandboxrun debug seccomp-dump [--text] [-o FILE] [--policy FILE]`: the seccomp program that
/// `run` would install for the policy, planned exactly as `run` plans it, written as raw
/// struct sock_filter[] (8 bytes per instruction, native byte order; what bench/seccomp.sh loads)
/// or, with --text, as a disassembly with its statistics. Hidden: for debugging and benchmarks.
/// </summary>
internal static class SeccompDumpCommand
{
    private const string UsageText = "usage: sandboxrun debug seccomp-dump [--text] [-o FILE] [--policy FILE]";

    public static int Execute(ReadOnlySpan<string> args)
    {
        bool text = false;
        string? output = null;
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--text")
                text = true;
            else if (args[i] == "-o" && i + 1 < args.Length)
                output = args[++i];
            else if (args[i] is "-h" or "--help")
                return Usage.Fail(0, UsageText);
            else
                rest.Add(args[i]);
        }
        (RunOptions? options, string? error) = RunOptions.Parse([.. rest, "--", "/bin/true"]);
        if (options is null)
            return Usage.Fail(2, $"{error}\n{UsageText}");
        SandboxPolicy? policy = PolicySource.Load(options.PolicyFile, quiet: true);
        if (policy is null)
            return 2;
        (SandboxPlan? plan, int exit) = RunCommand.MakePlan(policy, options);
        if (plan is null)
            return exit;
        if (plan.Seccomp.IsEmpty)
        {
            Console.Error.WriteLine("sandboxrun: this policy installs no seccomp filter");
            return 1;
        }

        ImmutableArray<BpfInstruction> program = [.. plan.Seccomp.Select(i => new BpfInstruction(i.Code, i.Jt, i.Jf, i.K))];
        byte[] bytes = text
            ? System.Text.Encoding.UTF8.GetBytes(
                $"# {program.Length} instructions, longest path {BpfProgram.MaxDepth(program)}\n"
                + BpfProgram.Disassemble(program, Architecture.Current?.Syscalls))
            : BpfProgram.ToBytes(program);
        if (output is null)
        {
            using Stream stdout = Console.OpenStandardOutput();
            stdout.Write(bytes);
        }
        else
        {
            File.WriteAllBytes(output, bytes);
        }
        return 0;
    }
}
