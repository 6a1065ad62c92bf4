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
