using System.Text;
using Sandboxrun.Policy;
using Xunit;

namespace Sandboxrun.Tests.Policy;

/// <summary>
/// Property: whatever text Parse is given, it returns (never throws), and the result is either a
/// policy with no errors or no policy with at least one located error. Inputs are seeded, so a
/// failure names an input that reproduces.
/// </summary>
public class PolicyLoaderFuzzTests
{
    private const int RandomInputs = 2000;
    private const int MutationsPerSeed = 400;

    // Characters that steer a YAML parser into its less common states.
    private const string YamlAlphabet = " \n\t:-[]{},#&*!|>'\"%@`?~.0123456789abcxyz/\\\r";

    private static readonly string[] Tokens =
    [
        "\n", "  ", "- ", ": ", "{", "}", "[", "]", ", ", "&a ", "*a", "<<: ", "---\n", "...\n", "!!str ", "!x ", "? ",
        "|\n", ">-\n", "\"", "'", "#", "~", "null", "true", "0", "-1", "70000", "1e400", "\t", "\u00e9", "\uFEFF",
        "version: 1\n", "version: 2\n", "port", "ports", "host: \"*\"", "root", "**", "..", "/", "%YAML 1.2\n",
    ];

    [Fact]
    public void RandomBytesNeverThrow()
    {
        var random = new Random(20240611);
        for (var i = 0; i < RandomInputs; i++)
        {
            var length = random.Next(0, 256);
            var text = (i % 3) switch
            {
                0 => Encoding.UTF8.GetString(RandomBytes(random, length)),
                1 => Encoding.Latin1.GetString(RandomBytes(random, length)),
                _ => new string([.. Enumerable.Range(0, length).Select(_ => YamlAlphabet[random.Next(YamlAlphabet.Length)])]),
            };

            AssertWellFormed(text, $"random input #{i}");
        }
    }

    [Fact]
    public void MutatedPoliciesNeverThrow()
    {
        var seeds = PolicyFixtures.PolicyFiles.Select(f => File.ReadAllText(PolicyFixtures.PathOf(f)))
            .Append(File.ReadAllText(PolicyFixtures.PathOf(PolicyFixtures.RoutesFile)))
            .Append(DefaultPolicy.Yaml)
            .ToArray();
        var random = new Random(7);
        foreach (var (seed, s) in seeds.Select((seed, s) => (seed, s)))
        {
            for (var i = 0; i < MutationsPerSeed; i++)
            {
                var text = seed;
                for (var m = random.Next(1, 4); m > 0; m--)
                {
                    text = Mutate(random, text);
                }

                AssertWellFormed(text, $"mutation #{i} of seed #{s}");
                if (i % 8 == 0)
                {
                    var routes = PolicyLoader.ParseInferenceRoutes(text, "fuzz.yaml");
                    Assert.True(routes.Inference is null != routes.Errors.IsEmpty, $"routes result inconsistent for mutation #{i} of seed #{s}");
                }
            }
        }
    }

    private static void AssertWellFormed(string text, string what)
    {
        PolicyLoadResult result;
        try
        {
            result = PolicyLoader.Parse(text, "fuzz.yaml");
        }
        catch (Exception ex)
        {
            Assert.Fail($"Parse threw on {what} ({Escape(text)}): {ex}");
            return;
        }

        Assert.True(result.Policy is null != result.Errors.IsEmpty, $"{what}: policy and errors disagree ({Escape(text)})");
        foreach (var error in result.Errors)
        {
            Assert.False(error.Message.StartsWith("internal error", StringComparison.Ordinal), $"{what}: {error} ({Escape(text)})");
            Assert.True(error.Location.Line >= 1 && error.Location.Column >= 1, $"{what}: unlocated error {error} ({Escape(text)})");
        }
    }

    private static string Mutate(Random random, string text)
    {
        var at = random.Next(text.Length + 1);
        switch (random.Next(6))
        {
            case 0 when text.Length > 0:
                var start = Math.Min(at, text.Length - 1);
                return text.Remove(start, Math.Min(random.Next(1, 16), text.Length - start));
            case 1:
                return text.Insert(at, Tokens[random.Next(Tokens.Length)]);
            case 2 when text.Length > 0:
                var chars = text.ToCharArray();
                chars[Math.Min(at, chars.Length - 1)] = YamlAlphabet[random.Next(YamlAlphabet.Length)];
                return new string(chars);
            case 3:
                var lines = text.Split('\n').ToList();
                var line = random.Next(lines.Count);
                lines.Insert(random.Next(lines.Count + 1), lines[line]);
                return string.Join('\n', lines);
            case 4:
                var shuffled = text.Split('\n');
                var a = random.Next(shuffled.Length);
                var b = random.Next(shuffled.Length);
                (shuffled[a], shuffled[b]) = (shuffled[b], shuffled[a]);
                return string.Join('\n', shuffled);
            default:
                return text.Insert(at, Tokens[random.Next(Tokens.Length)] + Tokens[random.Next(Tokens.Length)]);
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string Escape(string text) =>
        text.Length > 300 ? Escape(text[..300]) + "..." : text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
