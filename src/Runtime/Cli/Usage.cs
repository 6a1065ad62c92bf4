namespace Sandboxrun.Cli;

internal static class Usage
{
    public const string Text = """
        usage: sandboxrun [run] [options] -- CMD [ARGS...]
               sandboxrun policy default            print the built-in default policy
               sandboxrun policy check FILE         validate FILE and show what each layer enforces here
               sandboxrun policy apply NAME FILE    swap the network and inference sections of a running sandbox
               sandboxrun policy get NAME           print the policy a running sandbox enforces, and its generation
               sandboxrun ps [--json]               list running sandboxes
               sandboxrun logs NAME [-f] [--json]   show a running sandbox's audit events (-f: follow until it exits)
               sandboxrun doctor                    report kernel features; non-zero if the default policy cannot be enforced

        run options:
          --policy FILE        policy (YAML, OpenShell `version: 1` compatible); default: built-in
          --name NAME          sandbox name (also its hostname; default sandbox-PID for ps, logs, policy apply)
          -e KEY=VALUE         set an environment variable; -e KEY passes the host's value
          --workdir DIR        working directory to bind read-write (default: current directory)
          --preserve-fds N     pass fds 3..3+N-1 to the agent
          --audit FILE|-       also append the audit events (decisions, lifecycle, reloads) to FILE, one JSON line each
          --quiet              do not print notices about skipped protections

        exit status: the agent's; 128+N if it died of signal N; 125 sandbox setup failed;
        126 cannot execute; 127 command not found; 2 bad command line or policy.
        """;

    public static int Print(TextWriter w, int code)
    {
        w.WriteLine(Text);
        return code;
    }

    public static int Version()
    {
        Console.WriteLine("sandboxrun " + (typeof(Usage).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"));
        return 0;
    }

    /// <summary>Prints "sandboxrun: MESSAGE" to stderr and returns <paramref name="code"/>.</summary>
    public static int Fail(int code, string message)
    {
        Console.Error.WriteLine("sandboxrun: " + message);
        return code;
    }
}
