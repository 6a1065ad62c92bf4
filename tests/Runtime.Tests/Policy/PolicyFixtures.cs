using Xunit;

namespace Sandboxrun.Tests.Policy;

/// <summary>
/// The OpenShell policy files kept in shared/fixtures/openshell beside the repository. CI always
/// has them, so their absence fails the tests that need them, with the path that was looked for.
/// </summary>
internal static class PolicyFixtures
{
    public static readonly string[] PolicyFiles =
    [
        "testdata-sandbox-policy.yaml",
        "local-inference-policy.yaml",
        "quickstart-policy.yaml",
        "policy-advisor-policy.yaml",
        "gator-policy.yaml",
    ];

    public const string RoutesFile = "local-inference-routes.yaml";

    public static string Directory
    {
        get
        {
            var directory = Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "fixtures", "openshell"));
            Assert.True(System.IO.Directory.Exists(directory), $"OpenShell fixtures not found at {directory} (shared/ must sit beside the repository)");
            return directory;
        }
    }

    public static string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>The nearest ancestor of the test binaries that holds the solution (or, failing that, global.json).</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Runtime.sln")) || File.Exists(Path.Combine(dir.FullName, "Runtime.slnx"))
                || File.Exists(Path.Combine(dir.FullName, "global.json")))
            {
                return dir.FullName;
            }
        }

        Assert.Fail($"no Runtime.sln, Runtime.slnx or global.json above {AppContext.BaseDirectory}");
        return "";
    }
}
