using Detektor.Core.Telemetry;

namespace Detektor.Core.Tests.Telemetry;

public class ProcessMemoryTests
{
    [Fact]
    public void Parse_StatusFile_SplitsRssIntoAnonymousFileAndShared()
    {
        string[] status =
        [
            "Name:\tdetektor",
            "VmPeak:\t 3045812 kB",
            "VmHWM:\t  512000 kB",
            "VmRSS:\t  400000 kB",
            "RssAnon:\t  290000 kB",
            "RssFile:\t  100000 kB",
            "RssShmem:\t   10000 kB",
            "Threads:\t42",
        ];

        var sut = ProcessMemory.Parse(status);

        Assert.Equal(new ProcessMemory(400_000 * 1024L, 512_000 * 1024L, 290_000 * 1024L, 100_000 * 1024L, 10_000 * 1024L), sut);
    }

    [Fact]
    public void Parse_NoRssLine_IsNull()
    {
        Assert.Null(ProcessMemory.Parse(["Name:\tkthreadd", "State:\tS (sleeping)"]));
    }

    [Fact]
    public void ReadSelf_OnLinux_PartsAddUpToRss()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "/proc is Linux only");

        var sut = ProcessMemory.ReadSelf();

        Assert.NotNull(sut);
        var m = sut.Value;
        Assert.True(m.Anonymous > 0 && m.FileBacked > 0, $"anon {m.Anonymous}, file {m.FileBacked}");
        Assert.Equal(m.Rss, m.Anonymous + m.FileBacked + m.Shared);
        Assert.True(m.PeakRss >= m.Rss);
    }

    [Fact]
    public void Read_GoneProcess_IsNull()
    {
        Assert.Null(ProcessMemory.Read(int.MaxValue));
    }
}
