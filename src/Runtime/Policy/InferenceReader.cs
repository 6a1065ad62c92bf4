using System.Collections.Immutable;
using YamlDotNet.RepresentationModel;

namespace Sandboxrun.Policy;

/// <summary>
/// Reads inference routes, both as a policy's <c>inference</c> section and as OpenShell's
/// routes file (a top-level <c>routes:</c> list, as given to <c>--inference-routes</c>).
/// Several routes may share a name (OpenShell lists alternatives for one name that way).
/// </summary>
internal static class InferenceReader
{
    private static readonly string[] SectionKeys = ["routes"];
    private static readonly string[] RouteKeys = ["name", "endpoint", "model", "provider_type", "protocols", "api_key", "api_key_env"];

    public static InferencePolicy? ReadSection(YamlFields top) =>
        top.Mapping("inference", SectionKeys) is { } fields ? new InferencePolicy(ReadRoutes(fields)) : null;

    public static InferencePolicy? ReadRoutesFile(YamlNode root, PolicyDiagnostics diag)
    {
        if (YamlFields.Open(diag, root, "", SectionKeys) is not { } fields)
        {
            return null;
        }

        if (!fields.Has("routes"))
        {
            fields.ReportMissing("routes");
        }

        var routes = ReadRoutes(fields);
        return diag.HasErrors ? null : new InferencePolicy(routes);
    }

    private static ImmutableArray<InferenceRoute> ReadRoutes(YamlFields fields)
    {
        var routes = ImmutableArray.CreateBuilder<InferenceRoute>();
        foreach (var (node, path) in fields.Items("routes"))
        {
            if (ReadRoute(fields.Diag, node, path) is { } route)
            {
                routes.Add(route);
            }
        }

        return routes.DrainToImmutable();
    }

    private static InferenceRoute? ReadRoute(PolicyDiagnostics diag, YamlNode node, string path)
    {
        if (YamlFields.Open(diag, node, path, RouteKeys) is not { } fields)
        {
            return null;
        }

        var name = fields.RequiredText("name");
        var endpoint = fields.RequiredText("endpoint");
        if (endpoint is not null && PolicySyntax.CheckUrl(endpoint) is { } urlError)
        {
            diag.Error(fields.Value("endpoint")!, fields.PathOf("endpoint"), urlError);
            endpoint = null;
        }

        var protocols = ImmutableArray.CreateBuilder<string>();
        var listed = 0;
        foreach (var (item, itemPath) in fields.Items("protocols"))
        {
            listed++;
            if (YamlValues.Text(diag, item, itemPath, "a protocol name") is { } protocol)
            {
                protocols.Add(protocol);
            }
        }

        if (listed == 0 && fields.Value("protocols") is null or YamlSequenceNode)
        {
            diag.Error(fields.Value("protocols") ?? fields.Node, fields.PathOf("protocols"), "a route needs at least one protocol, such as openai_chat_completions");
        }

        var apiKey = fields.String("api_key");
        var apiKeyEnv = fields.Text("api_key_env");
        if (apiKeyEnv is not null && !PolicySyntax.IsEnvName(apiKeyEnv))
        {
            diag.Error(fields.Value("api_key_env")!, fields.PathOf("api_key_env"), $"{YamlValues.Quote(apiKeyEnv)} is not a valid environment variable name");
        }

        if (apiKey is not null && apiKeyEnv is not null)
        {
            diag.Error(fields.KeyNode("api_key_env")!, fields.PathOf("api_key_env"), "give either api_key or api_key_env, not both");
        }
        else if (apiKey is null && !fields.Has("api_key_env"))
        {
            diag.Error(fields.Node, fields.PathOf("api_key"), "a route needs api_key or api_key_env");
        }

        if (name is null || endpoint is null)
        {
            return null;
        }

        return new InferenceRoute(name, endpoint, fields.Text("model"), protocols.DrainToImmutable(), apiKey, apiKeyEnv, diag.At(fields.Node))
        {
            ProviderType = fields.Text("provider_type"),
        };
    }
}
