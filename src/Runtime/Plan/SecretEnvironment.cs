namespace Sandboxrun.Plan;

/// <summary>Host variables that look like credentials are never passed unless named with -e.</summary>
internal static class SecretEnvironment
{
    private static readonly string[] s_nameSuffixes = ["_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_CREDENTIALS", "_ACCESS_KEY"];
    private static readonly string[] s_namePrefixes = ["AWS_"];
    private static readonly string[] s_valuePrefixes = ["sk-", "ghp_", "gho_", "ghs_", "github_pat_", "xox", "AKIA", "glpat-"];

    public static bool LooksSecret(string name, string value)
    {
        string upper = name.ToUpperInvariant();
        foreach (string s in s_nameSuffixes)
            if (upper.EndsWith(s, StringComparison.Ordinal) || upper == s[1..])
                return true;
        foreach (string p in s_namePrefixes)
            if (upper.StartsWith(p, StringComparison.Ordinal))
                return true;
        foreach (string p in s_valuePrefixes)
            if (value.StartsWith(p, StringComparison.Ordinal))
                return true;
        return false;
    }
}
