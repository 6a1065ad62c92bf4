using Xunit;
using System.Globalization;
using System.Text;
using Sandboxrun.Seccomp;
using Sandboxrun.Tests.Infrastructure;

namespace Sandboxrun.Tests.Seccomp;

public sealed class SyscallTableTests
{
    private static readonly SyscallTable s_table = SyscallTable.X86_64;

    /// <summary>
    /// The hard-coded table against this machine's kernel headers: a C program prints __NR_x for
    /// every name in the table (or "-" when the headers predate it) and for every __NR_ macro the
    /// headers define; each number the headers know must match, each name they define must be in
    /// the table, and the names they do not know must be newer than all the ones they do.
    /// </summary>
    [SkippableFact]
    public void TableMatchesTheKernelHeaders()
    {
        const string header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
        Skip.IfNot(File.Exists(header), $"{header} is missing (install linux-libc-dev)");
        Skip.If(ProcessRunner.Run("sh", ["-c", "command -v cc"]).ExitCode != 0, "no C compiler");

        var c = new StringBuilder("#include <stdio.h>\n#include <asm/unistd_64.h>\nint main(void) {\n");
        foreach ((string name, _) in s_table.Entries)
            c.Append(CultureInfo.InvariantCulture, $"#ifdef __NR_{name}\n  printf(\"{name} %d\\n\", __NR_{name});\n#else\n  printf(\"{name} -\\n\");\n#endif\n");
        c.Append("  return 0;\n}\n");

        string dir = Directory.CreateTempSubdirectory("sbr-nr-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "nr.c"), c.ToString());
            ProcessResult build = ProcessRunner.Run("cc", ["-o", "nr", "nr.c"], dir);
            Assert.True(build.ExitCode == 0, build.ToString());
            ProcessResult run = ProcessRunner.Run(Path.Combine(dir, "nr"), [], dir);
            Assert.True(run.ExitCode == 0, run.ToString());

            int known = 0, newer = 0;
            uint maxKnown = 0;
            var unknownToHeaders = new List<uint>();
            foreach (string line in run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] parts = line.Split(' ');
                uint ours = s_table.Number(parts[0])!.Value;
                if (parts[1] == "-")
                {
                    unknownToHeaders.Add(ours);
                    newer++;
                    continue;
                }
                Assert.True(uint.Parse(parts[1], CultureInfo.InvariantCulture) == ours, $"{parts[0]}: headers say {parts[1]}, table says {ours}");
                maxKnown = Math.Max(maxKnown, ours);
                known++;
            }
            Assert.True(known >= 360, $"only {known} names checked");
            Assert.All(unknownToHeaders, nr => Assert.True(nr > maxKnown || nr is 335 or 336, $"{nr} is missing from headers that know up to {maxKnown}"));

            // And the other way: every name the headers define is in the table.
            var defined = File.ReadAllLines(header)
                .Where(l => l.StartsWith("#define __NR_", StringComparison.Ordinal))
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Select(f => (Name: f[1]["__NR_".Length..], Number: uint.Parse(f[2], CultureInfo.InvariantCulture)));
            foreach ((string name, uint number) in defined)
                Assert.True(s_table.Number(name) == number, $"headers define {name} = {number}; table has {s_table.Number(name)}");
            _ = newer;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void LookupByNameAndNumber()
    {
        Assert.Equal(101u, s_table.Number("ptrace"));
        Assert.Equal(435u, s_table["clone3"]);
        Assert.Equal("io_uring_setup", s_table.Name(425));
        Assert.Null(s_table.Name(400)); // unused on x86_64
        Assert.Null(s_table.Name(100_000));
        Assert.Null(s_table.Number("fork2"));
        Assert.Throws<KeyNotFoundException>(() => s_table["nope"]);
        Assert.Equal(s_table.Count, s_table.Entries.Length);
        Assert.Equal(s_table.Entries.OrderBy(e => e.Number), s_table.Entries);
        Assert.All(s_table.Entries, e => Assert.Equal(e.Name, s_table.Name(e.Number)));
    }

    [Theory]
    [InlineData("ptrce", "ptrace")]
    [InlineData("Mount", "mount")]
    [InlineData("unshre", "unshare")]
    [InlineData("pesronality", "personality")] // swapped letters
    [InlineData("umount", "umount2")]
    [InlineData("uring", "io_uring_enter")]      // a whole part of a name
    [InlineData("openat3", "openat2")]
    public void SuggestsNearNames(string typo, string expected) => Assert.Contains(expected, s_table.Suggest(typo));

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("x")]
    public void NoSuggestionForNamesNothingIsNear(string name) => Assert.Empty(s_table.Suggest(name));

    [Fact]
    public void UnknownNameMessage()
    {
        Assert.Equal("unknown syscall 'ptrce' (did you mean 'ptrace'?)", SeccompProfile.UnknownSyscallMessage(s_table, "ptrce"));
        Assert.Equal("unknown syscall 'frobnicate'", SeccompProfile.UnknownSyscallMessage(s_table, "frobnicate"));
        Assert.Matches(@"^unknown syscall 'uring' \(did you mean 'io_uring_\w+', 'io_uring_\w+' or 'io_uring_\w+'\?\)$",
            SeccompProfile.UnknownSyscallMessage(s_table, "uring"));
    }

    [Fact]
    public void CurrentArchitectureIsX86_64OnThisBuild()
    {
        Assert.Same(Architecture.X86_64, Architecture.Current);
        Assert.Equal(0xC000003Eu, Architecture.X86_64.AuditArch);
        Assert.True(Architecture.X86_64.HasX32Abi);
    }
}
