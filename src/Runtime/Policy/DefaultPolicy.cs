namespace Sandboxrun.Policy;

/// <summary>
/// The policy that applies when no <c>--policy</c> is given (DESIGN.md, "What the user sees").
/// Part of that default is not policy but the runtime's own fixed setup, applied under every
/// policy: /tmp is a private tmpfs, /proc is fresh, /dev is minimal, well-known secret
/// locations (~/.ssh, ~/.aws, ~/.config/gcloud, ~/.kube, ~/.docker, ~/.netrc, ~/.gnupg) are
/// masked, and no capabilities are kept.
/// </summary>
public static class DefaultPolicy
{
    public const string SourceName = "<built-in default policy>";

    public const string Yaml = """
        # sandboxrun's built-in default policy.
        version: 1
        filesystem_policy:
          include_workdir: true   # the current directory, read-write
          read_only: [/]          # the host's root, read-only
          read_write:             # /tmp is a private tmpfs, not the host's /tmp
            [/tmp, /dev/null, /dev/zero, /dev/full, /dev/tty, /dev/console, /dev/pts, /dev/ptmx, /dev/shm]
          deny: []                # the runtime masks well-known secret locations itself
        landlock:
          compatibility: best_effort
        process:                  # no run_as_user/run_as_group: the planner picks a non-root identity
          seccomp:
            default_profile: true
        network_policies: {}      # no network
        """;

    private static readonly Lazy<SandboxPolicy> Policy = new(() =>
    {
        var result = PolicyLoader.Parse(Yaml, SourceName);
        return result.Policy ?? throw new InvalidOperationException(
            "the built-in default policy does not load: " + string.Join("; ", result.Errors));
    });

    /// <summary>The parsed default policy (one shared immutable instance).</summary>
    public static SandboxPolicy Load() => Policy.Value;
}
