using Detektor.Capture.Demo;
using Detektor.Testing;

namespace Detektor.Capture.Tests.Demo;

public sealed class DemoCameraResolverTests
{
    [Fact]
    public void Resolve_ConfiguredFileExists_UsesIt()
    {
        using var dir = new TempDirectory();
        var clip = dir.Combine("mine.mp4");
        File.WriteAllBytes(clip, [0]);

        var sut = DemoCameraResolver.Resolve("file://" + clip, [dir.Combine("other.mp4")]);

        Assert.Equal("file://" + clip, sut.Url);
        Assert.True(sut.FootageFound);
    }

    [Fact]
    public void Resolve_ConfiguredFileMissing_FallsBackToFirstCandidateFoundAndSaysSo()
    {
        using var dir = new TempDirectory();
        var found = dir.Combine("vtest.mp4");
        File.WriteAllBytes(found, [0]);

        var sut = DemoCameraResolver.Resolve("file:///gone/vtest.mp4", [dir.Combine("absent.mp4"), found]);

        Assert.Equal("file://" + found, sut.Url);
        Assert.Contains("/gone/vtest.mp4 (Detektor:Capture:DemoUrl) does not exist", sut.Note, StringComparison.Ordinal);
        Assert.Equal(["/gone/vtest.mp4", dir.Combine("absent.mp4"), found], sut.Searched);
    }

    [Fact]
    public void Resolve_NothingFound_TestPatternWithHowToGetFootage()
    {
        var sut = DemoCameraResolver.Resolve(null, ["/nowhere/vtest.mp4"]);

        Assert.Equal("testsrc2://", sut.Url);
        Assert.False(sut.FootageFound);
        Assert.Contains("/nowhere/vtest.mp4", sut.Note, StringComparison.Ordinal);
        Assert.Contains("scripts/setup.sh", sut.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_ConfiguredLiveUrl_UsedAsIs() =>
        Assert.Equal("rtsp://10.0.0.5/s", DemoCameraResolver.Resolve("rtsp://10.0.0.5/s", []).Url);

    [Fact]
    public void Candidates_NoFootageVariable_DataDirThenCheckout()
    {
        using var checkout = new TempDirectory();
        File.WriteAllText(checkout.Combine("Detektor.slnx"), "<Solution />");
        var deep = Directory.CreateDirectory(checkout.Combine("src", "Detektor", "bin")).FullName;

        var sut = DemoCameraResolver.Candidates("/var/lib/detektor", null, deep);

        Assert.Equal(["/var/lib/detektor/footage/vtest.mp4", checkout.Combine(".cache", "footage", "vtest.mp4")], sut);
    }

    [Fact]
    public void Candidates_FootageVariableSet_OnlyItAndTheDataDir()
    {
        using var checkout = new TempDirectory();
        File.WriteAllText(checkout.Combine("Detektor.slnx"), "<Solution />");
        var deep = Directory.CreateDirectory(checkout.Combine("src", "Detektor", "bin")).FullName;

        var sut = DemoCameraResolver.Candidates("/var/lib/detektor", "/footage", deep);

        Assert.Equal(["/footage/vtest.mp4", "/var/lib/detektor/footage/vtest.mp4"], sut);
    }
}
