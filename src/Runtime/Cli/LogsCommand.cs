using System.Globalization;
using System.Text;
using System.Text.Json;
using Sandboxrun.Control;

namespace Sandboxrun.Cli;

/// <summary>
/// `sandboxrun logs NAME [-f] [--json]`: the audit events of a running sandbox, read from its
/// state directory. The human view puts a decision on one line:
///   10:31:05 DENY  POST api.github.com/repos/x/pulls  git  (policy github: ...)
/// -f follows the log until the sandbox exits (its state directory goes away).
/// </summary>
internal static class LogsCommand
{
    public static int Execute(ReadOnlySpan<string> args)
    {
        string? name = null;
        bool follow = false, json = false;
        foreach (string a in args)
        {
            switch (a)
            {
                case "-f" or "--follow":
                    follow = true;
                    break;
                case "--json":
                    json = true;
                    break;
                default:
                    if (a.StartsWith('-') || name is not null)
                        return Usage.Fail(2, "usage: sandboxrun logs NAME [-f] [--json]");
                    name = a;
                    break;
            }
        }
        if (name is null || !RunOptions.IsValidName(name))
            return Usage.Fail(2, "usage: sandboxrun logs NAME [-f] [--json]");
        string dir = RuntimeDirectory.Of(name);
        string path = SandboxState.AuditPathOf(dir);
        FileStream log;
        try
        {
            log = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Usage.Fail(1, $"no running sandbox named '{name}' ({path}: {e.Message})");
        }
        using (log)
        {
            var pending = new StringBuilder();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                int n = log.Read(buffer);
                if (n > 0)
                {
                    pending.Append(Encoding.UTF8.GetString(buffer, 0, n));
                    Flush(pending, json);
                    continue;
                }
                if (!follow || !Directory.Exists(dir))
                    return 0;
                Thread.Sleep(100);
            }
        }
    }

    private static void Flush(StringBuilder pending, bool json)
    {
        string text = pending.ToString();
        int end = text.LastIndexOf('\n');
        if (end < 0)
            return;
        foreach (string line in text[..end].Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Console.WriteLine(json ? line : Human(line));
        pending.Remove(0, end + 1);
        Console.Out.Flush();
    }

    internal static string Human(string line)
    {
        JsonElement e;
        try
        {
            e = JsonDocument.Parse(line).RootElement;
        }
        catch (JsonException)
        {
            return line;
        }
        string time = e.Text("time") is { Length: >= 19 } t ? t[11..19] : "--:--:--";
        string evt = e.Text("event");
        string binary = Path.GetFileName(e.Text("binary")) is { Length: > 0 } b ? b : "?";
        string target = Target(e);
        switch (evt)
        {
            case "egress.decision":
                string verdict = e.Text("decision").ToUpperInvariant();
                string why = verdict == "ALLOW" ? "" : $"  (policy {(e.Text("policy") is { Length: > 0 } policy ? policy : "none")}: {e.Text("reason")})";
                return $"{time} {verdict,-5} {target}  {binary}{why}";
            case "egress.end":
                return string.Create(CultureInfo.InvariantCulture,
                    $"{time} END   {target}  {binary}  {Number(e, "status")} in {Number(e, "duration_ms")} ms, {Number(e, "bytes_up")} B up, {Number(e, "bytes_down")} B down{(e.TryGetProperty("revoked", out JsonElement r) && r.ValueKind == JsonValueKind.True ? ", revoked" : "")}");
            case "egress.revoked":
                return $"{time} REVOKED {target}  {binary}  (generation {Number(e, "generation")}: {e.Text("reason")})";
            default:
                var rest = new StringBuilder();
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    if (p.Name is "time" or "sandbox" or "event")
                        continue;
                    rest.Append(' ').Append(p.Name).Append('=').Append(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText());
                }
                return $"{time} {evt}{rest}";
        }
    }

    private static string Target(JsonElement e)
    {
        string method = e.Text("method");
        string host = e.Text("host");
        string port = Number(e, "port");
        if (method == "CONNECT" || method.Length == 0)
            return $"CONNECT {host}:{port}";
        string authority = port is "80" ? host : $"{host}:{port}";
        return $"{method} {authority}{e.Text("path")}";
    }

    private static string Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetRawText() : "-";
}
