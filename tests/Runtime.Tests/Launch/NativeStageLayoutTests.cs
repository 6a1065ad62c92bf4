using Xunit;
using System.Runtime.InteropServices;
using Sandboxrun.Launch;
using Sandboxrun.Tests.Infrastructure;

namespace Sandboxrun.Tests.Launch;

/// <summary>The C# mirrors of Native/stage.h must match what the C compiler lays out.</summary>
public sealed class NativeStageLayoutTests
{
    [Fact]
    public void StructLayoutsMatchTheCompiler()
    {
        string dir = Directory.CreateTempSubdirectory("sbr-layout-").FullName;
        try
        {
            string header = Path.Combine(TestPaths.RepoRoot, "src", "Runtime", "Native", "stage.h");
            string c = Path.Combine(dir, "layout.c");
            string[] planFields = ["clone_flags", "ops", "rlimits", "groups", "bpf", "exec_file", "search_path", "argv", "envp", "nops", "nrlimits", "ngroups", "bpf_len", "uid", "gid", "set_groups", "landlock_fd", "pty_fd", "preserve_fds", "sync_fd", "sync_parent_fd", "err_fd", "err_parent_fd", "notify_fd", "keep_fds"];
            string[] opFields = ["kind", "step", "opflags", "mode", "flags", "attr_set", "attr_clr", "path", "a", "b", "c", "data", "len", "fd"];
            (string C, StageStep Cs)[] steps =
            [
                ("PDEATHSIG", StageStep.PdeathSig), ("SYNC", StageStep.Sync), ("CLOSE_FDS", StageStep.CloseFds), ("FORK_AGENT", StageStep.ForkAgent),
                ("SETSID", StageStep.Setsid), ("CTTY", StageStep.ControllingTty), ("RLIMIT", StageStep.Rlimit), ("CAPBSET", StageStep.CapBoundingSet),
                ("SETGROUPS", StageStep.SetGroups), ("SETGID", StageStep.SetGid), ("SETUID", StageStep.SetUid), ("CAPSET", StageStep.CapSet),
                ("NO_NEW_PRIVS", StageStep.NoNewPrivs), ("LANDLOCK", StageStep.Landlock), ("SIGNALS", StageStep.Signals), ("SECCOMP", StageStep.Seccomp),
                ("EXEC", StageStep.Exec), ("AMBIENT", StageStep.AmbientCaps), ("INIT_SIGNALS", StageStep.InitSignals), ("SECCOMP_LISTENER", StageStep.SeccompListener),
            ];
            Assert.Equal(Enum.GetValues<StageStep>().Length, steps.Length);
            File.WriteAllText(c, $$"""
                #include <stdio.h>
                #include <stddef.h>
                #include "{{header}}"
                int main(void) {
                  printf("plan %zu\n", sizeof(struct sbr_plan));
                  printf("op %zu\n", sizeof(struct sbr_op));
                  printf("rlimit %zu\n", sizeof(struct sbr_rlimit));
                  printf("report %zu\n", sizeof(struct sbr_report));
                  {{string.Concat(planFields.Select(f => $"printf(\"plan.{f} %zu\\n\", offsetof(struct sbr_plan, {f}));\n"))}}
                  {{string.Concat(opFields.Select(f => $"printf(\"op.{f} %zu\\n\", offsetof(struct sbr_op, {f}));\n"))}}
                  {{string.Concat(steps.Select(st => $"printf(\"step.{st.C} %d\\n\", (int)SBR_STEP_{st.C});\n"))}}
                  return 0;
                }
                """);
            ProcessResult cc = ProcessRunner.Run("cc", ["-o", Path.Combine(dir, "layout"), c]);
            Assert.True(cc.ExitCode == 0, cc.ToString());
            var actual = ProcessRunner.Run(Path.Combine(dir, "layout"), []).Stdout
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));

            unsafe
            {
                Assert.Equal(actual["plan"], sizeof(NativePlan));
                Assert.Equal(actual["op"], sizeof(NativeOp));
                Assert.Equal(actual["rlimit"], sizeof(NativeRlimit));
                Assert.Equal(actual["report"], sizeof(NativeReport));
            }
            string[] planNames = ["CloneFlags", "Ops", "Rlimits", "Groups", "Bpf", "ExecFile", "SearchPath", "Argv", "Envp", "NOps", "NRlimits", "NGroups", "BpfLen", "Uid", "Gid", "SetGroups", "LandlockFd", "PtyFd", "PreserveFds", "SyncFd", "SyncParentFd", "ErrFd", "ErrParentFd", "NotifyFd", "KeepFds"];
            for (int i = 0; i < planFields.Length; i++)
                Assert.True(actual["plan." + planFields[i]] == (int)Marshal.OffsetOf<NativePlan>(planNames[i]), planFields[i]);
            foreach ((string cName, StageStep step) in steps)
                Assert.True(actual["step." + cName] == (int)step, $"SBR_STEP_{cName} is {actual["step." + cName]}, StageStep.{step} is {(int)step}");
            string[] opNames = ["Kind", "Step", "OpFlags", "Mode", "Flags", "AttrSet", "AttrClr", "Path", "A", "B", "C", "Data", "Len", "Fd"];
            for (int i = 0; i < opFields.Length; i++)
                Assert.True(actual["op." + opFields[i]] == (int)Marshal.OffsetOf<NativeOp>(opNames[i]), opFields[i]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void SeccompInstructionIsASockFilter()
    {
        unsafe
        {
            Assert.Equal(8, sizeof(Sandboxrun.Plan.SeccompInstruction));
        }
    }
}
