using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>
/// Typed reads of single YAML nodes. Scalars follow the YAML 1.2 core schema that OpenShell's
/// serde_yaml uses: only plain (unquoted, untagged) scalars are null, booleans or numbers;
/// any non-null scalar reads as a string. A failed read reports one error and returns null.
/// </summary>
internal static class YamlValues
{
    public static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    public static string Index(string path, int index) => $"{path}[{index.ToString(CultureInfo.InvariantCulture)}]";

    public static bool IsPlain(YamlScalarNode scalar) =>
        scalar.Style is ScalarStyle.Plain or ScalarStyle.Any && (scalar.Tag.IsEmpty || scalar.Tag.IsNonSpecific);

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode scalar && IsPlain(scalar) && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";

    /// <summary>How a node reads in an error message: "a mapping", "null", "'text'".</summary>
    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a sequence",
        _ when IsNull(node) => "null",
        YamlScalarNode scalar => Quote(scalar.Value ?? ""),
        _ => "an alias",
    };

    public static string Quote(string text) => text.Length <= 60 ? $"'{text}'" : $"'{text[..57]}...'";

    public static YamlScalarNode? Scalar(PolicyDiagnostics diag, YamlNode node, string path, string expected)
    {
        if (node is YamlScalarNode scalar && !IsNull(node))
        {
            return scalar;
        }

        diag.Error(node, path, $"expected {expected}, got {Describe(node)}");
        return null;
    }

    public static string? String(PolicyDiagnostics diag, YamlNode node, string path, string expected = "a string") =>
        Scalar(diag, node, path, expected)?.Value;

    /// <summary>A string that must not be empty.</summary>
    public static string? Text(PolicyDiagnostics diag, YamlNode node, string path, string expected = "a non-empty string")
    {
        var text = String(diag, node, path, expected);
        if (text is { Length: 0 })
        {
            diag.Error(node, path, $"expected {expected}, got an empty string");
            return null;
        }

        return text;
    }

    public static bool? Bool(PolicyDiagnostics diag, YamlNode node, string path)
    {
        if (node is YamlScalarNode scalar && IsPlain(scalar))
        {
            switch (scalar.Value)
            {
                case "true" or "True" or "TRUE":
                    return true;
                case "false" or "False" or "FALSE":
                    return false;
            }
        }

        diag.Error(node, path, $"expected true or false, got {Describe(node)}");
        return null;
    }

    /// <summary>A plain decimal integer in [min, max].</summary>
    public static long? Integer(PolicyDiagnostics diag, YamlNode node, string path, long min, long max)
    {
        if (node is not YamlScalarNode scalar || !IsPlain(scalar) || !TryParseInteger(scalar.Value, out var value))
        {
            diag.Error(node, path, $"expected an integer, got {Describe(node)}");
            return null;
        }

        if (value < min || value > max)
        {
            diag.Error(node, path, $"{value.ToString(CultureInfo.InvariantCulture)} is out of range; expected {Range(min, max)}");
            return null;
        }

        return value;
    }

    /// <summary>A plain finite decimal number greater than zero.</summary>
    public static double? PositiveNumber(PolicyDiagnostics diag, YamlNode node, string path)
    {
        if (node is not YamlScalarNode scalar || !IsPlain(scalar) || !TryParseNumber(scalar.Value, out var value))
        {
            diag.Error(node, path, $"expected a number, got {Describe(node)}");
            return null;
        }

        if (value <= 0)
        {
            diag.Error(node, path, "expected a number greater than 0");
            return null;
        }

        return value;
    }

    public static bool TryParseInteger(string? text, out long value)
    {
        value = 0;
        if (string.IsNullOrEmpty(text) || text.Length > 20)
        {
            return false;
        }

        var digits = text[0] is '+' or '-' ? text.AsSpan(1) : text.AsSpan();
        return digits.Length > 0 && !digits.ContainsAnyExceptInRange('0', '9')
            && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryParseNumber(string? text, out double value)
    {
        value = 0;
        return !string.IsNullOrEmpty(text) && text.Length <= 32
            && !text.AsSpan().ContainsAnyExcept("0123456789+-.eE")
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value)
            && double.IsFinite(value);
    }

    private static string Range(long min, long max) =>
        max == long.MaxValue || max == int.MaxValue
            ? $"at least {min.ToString(CultureInfo.InvariantCulture)}"
            : $"{min.ToString(CultureInfo.InvariantCulture)}..{max.ToString(CultureInfo.InvariantCulture)}";
}
