using System.Globalization;
using System.Text.Json;
using Sandboxrun.Control;

namespace Sandboxrun.Cli;

/// <summary>`sandboxrun ps [--json]`: the caller's running sandboxes, each asked over its control socket.</summary>
internal static class PsCommand
{
    public static int Execute(ReadOnlySpan<string> args)
    {
        bool json = args.Length == 1 && args[0] == "--json";
        if (args.Length > 1 || args.Length == 1 && !json)
            return Usage.Fail(2, "usage: sandboxrun ps [--json]");
        var rows = new List<JsonDocument>();
        foreach (string name in RuntimeDirectory.Names())
        {
            (JsonDocument? reply, _) = ControlClient.Call(name, w => w.WriteString("op", "status"), TimeSpan.FromSeconds(5));
            if (reply is null)
                SandboxState.RemoveIfStale(name); // nothing answered: left by a supervisor that was killed (SIGKILL leaves no chance to clean up)
            else if (reply.RootElement.TryGetProperty("ok", out JsonElement ok) && ok.GetBoolean())
                rows.Add(reply);
        }
        if (json)
        {
            using var w = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = false });
            w.WriteStartArray();
            foreach (JsonDocument row in rows)
                row.RootElement.WriteTo(w);
            w.WriteEndArray();
            w.Flush();
            Console.WriteLine();
            return 0;
        }
        Console.WriteLine($"{"NAME",-24} {"PID",8} {"UPTIME",8} {"ALLOWED",8} {"DENIED",8} {"GEN",4}  {"POLICY",-30} COMMAND");
        foreach (JsonDocument row in rows)
        {
            JsonElement r = row.RootElement;
            string command = string.Join(' ', r.GetProperty("command").EnumerateArray().Select(a => a.GetString()));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Text("name"),-24} {r.GetProperty("pid").GetInt32(),8} {Uptime(r.GetProperty("uptime_s").GetInt64()),8} {r.GetProperty("allowed").GetInt64(),8} {r.GetProperty("denied").GetInt64(),8} {r.GetProperty("generation").GetInt64(),4}  {r.Text("policy"),-30} {command}"));
        }
        return 0;
    }

    private static string Uptime(long s) => s switch
    {
        < 60 => $"{s}s",
        < 3600 => $"{s / 60}m{s % 60:00}s",
        _ => $"{s / 3600}h{s % 3600 / 60:00}m",
    };
}
