namespace Sandboxrun;

/// <summary>The supervisor could not prepare or start the sandbox (exit 125).</summary>
internal sealed class SandboxSetupException(string stage, int errno, string message)
    : Exception($"{message}: {Interop.ErrnoText.Describe(errno)}")
{
    public string Stage { get; } = stage;
    public int Errno { get; } = errno;
}
