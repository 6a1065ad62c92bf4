using Sandboxrun.Policy;

namespace Sandboxrun.Cli;

/// <summary>Loads the policy a command names (or the built-in default) and prints its problems.</summary>
internal static class PolicySource
{
    public static SandboxPolicy? Load(string? file, bool quiet) => LoadWithText(file, quiet).Policy;

    /// <summary>The policy and the exact text it was loaded from (kept for reloads and `policy get`).</summary>
    public static (SandboxPolicy? Policy, string Text) LoadWithText(string? file, bool quiet)
    {
        if (file is null)
            return (DefaultPolicy.Load(), DefaultPolicy.Yaml);
        PolicyLoadResult r = PolicyLoader.Load(file, out string text);
        foreach (PolicyError e in r.Errors)
            Console.Error.WriteLine("sandboxrun: policy error: " + e);
        if (!quiet)
            foreach (PolicyError w in r.Warnings)
                Console.Error.WriteLine("sandboxrun: policy warning: " + w);
        return (r.Ok ? r.Policy : null, text);
    }
}
