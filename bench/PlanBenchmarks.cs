using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Sandboxrun.Host;
using Sandboxrun.Plan;
using Sandboxrun.Policy;
using Sandboxrun.Seccomp;

namespace Sandboxrun.Bench;

/// <summary>In-process cost of everything the supervisor does before clone: load, plan, filter.</summary>
[MemoryDiagnoser]
public class PlanBenchmarks
{
    private string _fixture = "";
    private SandboxPolicy _policy = DefaultPolicy.Load();
    private HostFacts _host = null!;
    private Invocation _invocation = null!;

    [GlobalSetup]
    public void Setup()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "shared", "fixtures", "openshell", "testdata-sandbox-policy.yaml");
        _fixture = File.Exists(path) ? File.ReadAllText(path) : DefaultPolicy.Yaml;
        _host = HostProbe.Gather();
        _invocation = new Invocation(["/bin/true"], ImmutableArray<KeyValuePair<string, string?>>.Empty, "/tmp", null, 0, null);
    }

    [Benchmark]
    public PolicyLoadResult ParseOpenShellFixture() => PolicyLoader.Parse(_fixture, "fixture.yaml");

    [Benchmark]
    public object PlanDefaultPolicy() => Planner.Plan(_policy, _invocation, _host);

    [Benchmark]
    public CompiledFilter BuildDefaultFilter() => DefaultFilter.Build();

    [Benchmark]
    public object GatherHostFacts() => HostProbe.Gather();
}

public static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["seccomp-export", string dir])
            return SeccompBenchProfiles.Export(dir);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
