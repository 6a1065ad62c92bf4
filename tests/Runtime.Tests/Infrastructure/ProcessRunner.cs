using Xunit;
using System.Diagnostics;
using System.Text;

namespace Sandboxrun.Tests.Infrastructure;

public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The probe's final line ("ok ..." or "err ERRNO ...").</summary>
    public string LastLine => Stdout.TrimEnd('\n').Split('\n')[^1];

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
}

/// <summary>Runs a host process with a deadline; a process still running at the deadline is killed and the test fails.</summary>
public static class ProcessRunner
{
    public static ProcessResult Run(string file, IEnumerable<string> args, string? workdir = null,
        IDictionary<string, string?>? env = null, TimeSpan? timeout = null, string? stdin = null)
    {
        using Process p = Start(file, args, workdir, env, redirectStdin: stdin is not null);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.Append(e.Data).Append('\n'); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Append(e.Data).Append('\n'); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time\n{stdout}\n{stderr}");
        }
        p.WaitForExit();
        return new ProcessResult(p.ExitCode, stdout.ToString(), stderr.ToString());
    }

    public static Process Start(string file, IEnumerable<string> args, string? workdir = null,
        IDictionary<string, string?>? env = null, bool redirectStdin = false)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectStdin,
            UseShellExecute = false,
            WorkingDirectory = workdir ?? Path.GetTempPath(),
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        if (env is not null)
            foreach ((string k, string? v) in env)
                psi.Environment[k] = v;
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
    }
}

/// <summary>A process left running while the test acts on it; killed (with its tree) when disposed.</summary>
public sealed class RunningProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    public RunningProcess(string file, IEnumerable<string> args, string? workdir = null, IDictionary<string, string?>? env = null)
    {
        _process = ProcessRunner.Start(file, args, workdir, env);
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.Append(e.Data).Append('\n'); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.Append(e.Data).Append('\n'); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Stdout
    {
        get
        {
            lock (_stdout)
                return _stdout.ToString();
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds; fails the test with what the process printed if it never does.</summary>
    public void WaitUntil(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > (timeout ?? TimeSpan.FromSeconds(30)) || _process.HasExited && !condition())
                Assert.Fail($"waited for {what}; exited: {_process.HasExited}\n--- stdout\n{Stdout}--- stderr\n{_stderr}");
            Thread.Sleep(20);
        }
    }

    public ProcessResult Wait(TimeSpan? timeout = null)
    {
        if (!_process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail($"the process did not exit in time\n--- stdout\n{Stdout}--- stderr\n{_stderr}");
        }
        _process.WaitForExit();
        lock (_stderr)
            return new ProcessResult(_process.ExitCode, Stdout, _stderr.ToString());
    }

    /// <summary>SIGTERM first, so a sandboxrun under test can clean up (its state directory); SIGKILL to the tree after 5 s.</summary>
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            ProcessRunner.Run("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            if (!_process.WaitForExit(TimeSpan.FromSeconds(5)))
                _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}
