using Xunit;
namespace Sandboxrun.Tests.Infrastructure;

/// <summary>Where the repository, the built binaries and the shared fixtures are.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string SharedFixtures => Path.Combine(RepoRoot, "..", "shared", "fixtures", "openshell");

    public static string Artifact(string name)
    {
        string path = Path.Combine(RepoRoot, "artifacts", name);
        if (!File.Exists(path))
            throw new InvalidOperationException($"{path} is missing: run ./build.sh before the tests");
        return path;
    }

    private static string FindRepoRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "Runtime.sln")))
                return dir;
        throw new InvalidOperationException("Runtime.sln not found above " + AppContext.BaseDirectory);
    }
}
