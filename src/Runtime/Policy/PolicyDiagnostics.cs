using System.Collections.Immutable;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>The errors and warnings found while reading one policy source, handed out in file order.</summary>
internal sealed class PolicyDiagnostics(string source)
{
    private readonly List<PolicyError> errors = [];
    private readonly List<PolicyError> warnings = [];

    public string Source => source;

    public bool HasErrors => errors.Count > 0;

    public ImmutableArray<PolicyError> Errors => InFileOrder(errors);

    public ImmutableArray<PolicyError> Warnings => InFileOrder(warnings);

    /// <summary>YamlDotNet marks are 1-based in both line and column.</summary>
    public SourceLocation At(Mark mark) => new(source, Clamp(mark.Line), Clamp(mark.Column));

    public SourceLocation At(YamlNode node) => At(node.Start);

    public void Error(SourceLocation location, string path, string message) => errors.Add(new(location, path, message));

    public void Error(YamlNode node, string path, string message) => Error(At(node), path, message);

    public void Warning(YamlNode node, string path, string message) => warnings.Add(new(At(node), path, message));

    // OrderBy is stable: problems found at one position keep the order they were found in.
    private static ImmutableArray<PolicyError> InFileOrder(List<PolicyError> list) =>
        [.. list.OrderBy(e => e.Location.Line).ThenBy(e => e.Location.Column)];

    private static int Clamp(long value) => (int)Math.Clamp(value, 0, int.MaxValue);
}
