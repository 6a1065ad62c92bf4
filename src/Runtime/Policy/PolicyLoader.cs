using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>
/// Loads sandbox policies (OpenShell's <c>version: 1</c> schema plus sandboxrun's keys) and
/// OpenShell inference-routes files. Bad input never throws: every problem comes back as a
/// <see cref="PolicyError"/> with file:line:col and field path, all of them in one pass.
/// YAML is read through YamlDotNet's representation model, never its reflection-based
/// deserializer (the binary is NativeAOT).
/// </summary>
public static class PolicyLoader
{
    /// <summary>Largest policy accepted, in bytes of a file and characters of a string.</summary>
    public const int MaxPolicySize = 4 * 1024 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static PolicyLoadResult Load(string path) => Load(path, out _);

    /// <summary>Loads a policy file; <paramref name="text"/> is exactly what was read (empty when it could not be).</summary>
    public static PolicyLoadResult Load(string path, out string text)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (TryReadFile(path, out text, out var error))
        {
            return Parse(text, path);
        }

        text = "";
        return new PolicyLoadResult(null, [error], []);
    }

    public static PolicyLoadResult Parse(string yamlText, string sourceName)
    {
        var (policy, diag) = Run(yamlText, sourceName, PolicyReader.Read);
        return new PolicyLoadResult(policy, diag.Errors, diag.Warnings);
    }

    /// <summary>Loads an OpenShell routes file: a top-level <c>routes:</c> list and nothing else.</summary>
    public static InferenceRoutesLoadResult LoadInferenceRoutes(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return TryReadFile(path, out var text, out var error)
            ? ParseInferenceRoutes(text, path)
            : new InferenceRoutesLoadResult(null, [error], []);
    }

    public static InferenceRoutesLoadResult ParseInferenceRoutes(string yamlText, string sourceName)
    {
        var (inference, diag) = Run(yamlText, sourceName, InferenceReader.ReadRoutesFile);
        return new InferenceRoutesLoadResult(inference, diag.Errors, diag.Warnings);
    }

    private static (T? Value, PolicyDiagnostics Diag) Run<T>(string text, string sourceName, Func<YamlNode, PolicyDiagnostics, T?> read)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sourceName);
        var diag = new PolicyDiagnostics(sourceName);
        if (text.Length > MaxPolicySize)
        {
            diag.Error(new SourceLocation(sourceName, 0, 0), "", TooLarge);
            return (null, diag);
        }

        T? value;
        try
        {
            value = YamlInput.Load(text.TrimStart('\uFEFF'), diag) is { } root ? read(root, diag) : null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Parse never throws on input, so even a bug in a reader comes back as an error.
            diag.Error(new SourceLocation(sourceName, 0, 0), "", $"internal error while reading the policy ({ex.GetType().Name}: {ex.Message})");
            value = null;
        }

        return (diag.HasErrors ? null : value, diag);
    }

    private static readonly string TooLarge =
        $"the policy is larger than {(MaxPolicySize / (1024 * 1024)).ToString(CultureInfo.InvariantCulture)} MiB";

    /// <summary>Reads a whole policy file as strict UTF-8; false with the reason in <paramref name="error"/>.</summary>
    private static bool TryReadFile(string path, out string text, [NotNullWhen(false)] out PolicyError? error)
    {
        text = "";
        error = null;
        var location = new SourceLocation(path, 0, 0);
        try
        {
            // Read with a bound rather than trusting the file's size: it may be a pipe or still growing.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            using var buffer = new MemoryStream();
            var chunk = new byte[64 * 1024];
            int read;
            while ((read = stream.Read(chunk)) > 0)
            {
                if (buffer.Length + read > MaxPolicySize)
                {
                    error = new PolicyError(location, "", TooLarge);
                    return false;
                }

                buffer.Write(chunk, 0, read);
            }

            text = StrictUtf8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DecoderFallbackException or NotSupportedException or ArgumentException)
        {
            error = new PolicyError(location, "", ex is DecoderFallbackException ? "the file is not valid UTF-8" : $"cannot read the file: {ex.Message}");
            return false;
        }
    }
}
