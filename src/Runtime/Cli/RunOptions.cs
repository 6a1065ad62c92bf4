using System.Collections.Immutable;
using System.Globalization;

namespace Sandboxrun.Cli;

/// <summary>The `run` command line, parsed; errors are values (exit 2).</summary>
internal sealed record RunOptions(
    string? PolicyFile,
    string? Name,
    ImmutableArray<KeyValuePair<string, string?>> Environment,
    string? Workdir,
    int PreserveFds,
    bool Quiet,
    ImmutableArray<string> Command)
{
    /// <summary>--audit FILE|-: where audit events go (null: nowhere yet; the control socket's log comes later).</summary>
    public string? Audit { get; init; }

    public static (RunOptions? Options, string? Error) Parse(ReadOnlySpan<string> args)
    {
        try
        {
            return ParseOrThrow(args);
        }
        catch (ArgumentException e)
        {
            return (null, e.Message);
        }
    }

    private static (RunOptions? Options, string? Error) ParseOrThrow(ReadOnlySpan<string> args)
    {
        string? policy = null, name = null, workdir = null, audit = null;
        int preserve = 0;
        bool quiet = false;
        var env = ImmutableArray.CreateBuilder<KeyValuePair<string, string?>>();
        int i = 0;
        for (; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                i++;
                break;
            }
            if (!a.StartsWith('-') || a == "-")
                break;
            int eqAt = a.IndexOf('=', StringComparison.Ordinal);
            bool inline = a.StartsWith("--", StringComparison.Ordinal) && eqAt > 0;
            string? next = inline ? a[(eqAt + 1)..] : i + 1 < args.Length ? args[i + 1] : null;
            string? Value()
            {
                if (!inline && next is not null)
                    i++;
                return next;
            }
            string flag = a.StartsWith("--", StringComparison.Ordinal) && a.Contains('=', StringComparison.Ordinal) ? a[..a.IndexOf('=', StringComparison.Ordinal)] : a;
            switch (flag)
            {
                case "--policy":
                    policy = Value() ?? throw Missing(flag);
                    break;
                case "--name":
                    name = Value() ?? throw Missing(flag);
                    if (!IsValidName(name))
                        return (null, $"--name: '{name}' is not a valid name (letters, digits, '.', '_', '-'; at most 63)");
                    break;
                case "-e":
                case "--env":
                    string kv = Value() ?? throw Missing(flag);
                    int eq = kv.IndexOf('=', StringComparison.Ordinal);
                    string key = eq < 0 ? kv : kv[..eq];
                    if (!IsValidEnvName(key))
                        return (null, $"{flag}: '{key}' is not a valid environment variable name");
                    env.Add(new(key, eq < 0 ? null : kv[(eq + 1)..]));
                    break;
                case "--workdir":
                    workdir = Value() ?? throw Missing(flag);
                    break;
                case "--preserve-fds":
                    string n = Value() ?? throw Missing(flag);
                    if (!int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out preserve) || preserve > 1000)
                        return (null, $"--preserve-fds: '{n}' is not a count of file descriptors");
                    break;
                case "--audit":
                    audit = Value() ?? throw Missing(flag);
                    break;
                case "--quiet":
                case "-q":
                    quiet = true;
                    break;
                default:
                    return (null, $"unknown option {a} (see sandboxrun --help)");
            }
        }
        ImmutableArray<string> command = [.. args[i..]];
        if (command.IsEmpty)
            return (null, "no command given (usage: sandboxrun [run] [options] -- CMD [ARGS...])");
        return (new RunOptions(policy, name, env.ToImmutable(), workdir, preserve, quiet, command) { Audit = audit }, null);
    }

    private static ArgumentException Missing(string flag) => new($"{flag} needs a value");

    internal static bool IsValidEnvName(string s) =>
        s.Length > 0 && !char.IsAsciiDigit(s[0]) && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    internal static bool IsValidName(string s) =>
        s.Length is > 0 and <= 63 && char.IsAsciiLetterOrDigit(s[0]) && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
