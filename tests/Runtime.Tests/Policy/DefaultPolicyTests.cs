using Sandboxrun.Policy;
using Xunit;

namespace Sandboxrun.Tests.Policy;

public class DefaultPolicyTests
{
    [Fact]
    public void YamlLoadsWithoutErrorsOrWarnings()
    {
        var result = PolicyLoader.Parse(DefaultPolicy.Yaml, DefaultPolicy.SourceName);

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void HasTheDocumentedContent()
    {
        var policy = DefaultPolicy.Load();

        Assert.Equal(1, policy.Version);
        Assert.Equal(DefaultPolicy.SourceName, policy.Source);
        Assert.True(policy.Filesystem.IncludeWorkdir);
        Assert.Equal(["/"], policy.Filesystem.ReadOnly.Select(p => p.Path));
        // /tmp (a private tmpfs) and the devices every program expects to write; Landlock denies the rest.
        Assert.Equal(["/tmp", "/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/console", "/dev/pts", "/dev/ptmx", "/dev/shm"], policy.Filesystem.ReadWrite.Select(p => p.Path));
        Assert.Null(policy.Filesystem.Execute);
        Assert.Empty(policy.Filesystem.Deny);
        Assert.Equal(new LandlockPolicy(LandlockCompatibility.BestEffort, null, null), policy.Landlock);
        Assert.Null(policy.Process.RunAsUser);
        Assert.Null(policy.Process.RunAsGroup);
        Assert.True(policy.Process.Seccomp.DefaultProfile);
        Assert.Equal(SeccompDefaultAction.Errno, policy.Process.Seccomp.DefaultAction);
        Assert.Empty(policy.Process.Seccomp.Block);
        Assert.Empty(policy.Process.Seccomp.Allow);
        Assert.Equal(new ResourceLimits(null, null, null, null), policy.Process.Limits);
        Assert.Empty(policy.Process.Environment);
        Assert.Empty(policy.NetworkPolicies);
        Assert.Null(policy.Inference);
    }

    [Fact]
    public void LoadReturnsOneSharedInstance()
    {
        Assert.Same(DefaultPolicy.Load(), DefaultPolicy.Load());
    }
}
