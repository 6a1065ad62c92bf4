using Sandboxrun.Cli;

namespace Sandboxrun;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length == 0)
            return Usage.Print(Console.Error, 2);
        return args[0] switch
        {
            "run" => RunCommand.Execute(args.AsSpan(1)),
            "policy" => PolicyCommand.Execute(args.AsSpan(1)),
            "doctor" => DoctorCommand.Execute(args.AsSpan(1)),
            "ps" => PsCommand.Execute(args.AsSpan(1)),
            "logs" => LogsCommand.Execute(args.AsSpan(1)),
            "debug" => DebugCommand.Execute(args.AsSpan(1)),
            "help" or "--help" or "-h" => Usage.Print(Console.Out, 0),
            "--version" or "version" => Usage.Version(),
            _ => RunCommand.Execute(args),
        };
    }
}
