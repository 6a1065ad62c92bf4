using System.Text.Json;
using Sandboxrun.Tests.Infrastructure;
using Xunit;

namespace Sandboxrun.Tests.Sandbox;

[Collection(SandboxCollection.Name)]
public sealed class AuditTests(SandboxFixture f)
{
    [Fact]
    public void LifecycleAndSkippedProtectionsAreLoggedWithoutSecrets()
    {
        string wd = f.NewWorkdir();
        string policy = Path.Combine(wd, "p.yaml");
        File.WriteAllText(policy, "version: 1\nfilesystem_policy: { read_only: [/], include_workdir: true }\nprocess:\n  limits: { memory: 1Gi }\n");
        string log = Path.Combine(wd, "audit.jsonl");
        ProcessResult r = f.Run(["--policy", policy, "--audit", log, "--name", "audited", "--", "sh", "-c", "echo sk-abcdefghijklmnopqrstuv >/dev/null; exit 3"], workdir: wd);
        Assert.Equal(3, r.ExitCode);

        string text = File.ReadAllText(log);
        Assert.DoesNotContain("sk-abcdefghijklmnopqrstuv", text, StringComparison.Ordinal);
        List<JsonElement> events = [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)];
        Assert.Equal(["policy.load", "layer.skipped", "sandbox.start", "sandbox.exit"], events.Select(e => e.GetProperty("event").GetString()));
        Assert.All(events, e => Assert.Equal("audited", e.GetProperty("sandbox").GetString()));
        Assert.Contains("process.limits.memory", events[1].GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(events[2].GetProperty("pid").GetInt32() > 1);
        Assert.Equal(7, events[2].GetProperty("landlock_abi").GetInt32());
        Assert.Contains("[redacted]", events[2].GetProperty("command").EnumerateArray().Last().GetString(), StringComparison.Ordinal);
        Assert.Equal(3, events[3].GetProperty("status").GetInt32());
    }

    [Fact]
    public void SetupFailuresAreLogged()
    {
        string wd = f.NewWorkdir();
        string log = Path.Combine(wd, "audit.jsonl");
        ProcessResult r = f.Run(["--audit", log, "--", "no-such-command-sbr"], workdir: wd);
        Assert.Equal(127, r.ExitCode);
        JsonElement last = JsonDocument.Parse(File.ReadAllLines(log)[^1]).RootElement;
        Assert.Equal("sandbox.setup_failed", last.GetProperty("event").GetString());
        Assert.Equal(127, last.GetProperty("status").GetInt32());
    }
}
