using Detektor.Core.Messages;
using Detektor.Detection.Tracking;
using Detektor.Imaging;
using Detektor.Testing;
using Microsoft.Extensions.Configuration;

namespace Detektor.Detection.Tests.Tracking;

public sealed class SnapshotStoreTests
{
    [Theory]
    [InlineData("/t/snaps", "/r/snaps", "/t/snaps")]   // the tracker's own key wins
    [InlineData(null, "/r/snaps", "/r/snaps")]         // else where retention prunes
    [InlineData(null, null, "/data/snapshots")]        // else the data directory's
    public void ResolveDirectory_TrackingThenRetentionThenDataDir(string? tracking, string? retention, string expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Detektor:DataDir"] = "/data",
            ["Detektor:Storage:Retention:SnapshotsPath"] = retention,
        }).Build();

        var sut = SnapshotStore.ResolveDirectory(new DetectionOptions { Tracking = new TrackingOptions { SnapshotsDirectory = tracking } }, configuration);

        Assert.Equal(expected, sut);
    }

    [Fact]
    public void Write_ThenResolve_JpegWithTheBoxUnderTheCameraFolder()
    {
        using var dir = new TempDirectory();
        var sut = new SnapshotStore(dir.Path, 90);
        var pixels = new byte[32 * 24 * 3];

        var relative = sut.Write("front door", "trk_1", pixels, 32, 24, new BoundingBox(4, 4, 10, 10));
        var image = ImageCodec.Decode(File.ReadAllBytes(sut.Resolve(relative)!));

        Assert.Equal(Path.Combine("front_door", "trk_1.jpg"), relative);
        Assert.Equal((32, 24), (image.Width, image.Height));
        Assert.True(image.Pixels[((4 * 32) + 4) * 3 + 1] > 100, "the box outline is drawn (green)");
        Assert.Equal(0, pixels.Max());
    }

    [Fact]
    public void Write_Yuv420pFrame_TheSameJpegAsFromItsRgb24Conversion()
    {
        using var dir = new TempDirectory();
        var sut = new SnapshotStore(dir.Path, 90);
        var yuv = new byte[Core.Frames.PixelFormats.FrameBytes(Core.Frames.PixelFormats.Yuv420p, 32, 24)];
        new Random(3).NextBytes(yuv);
        var rgb = new byte[32 * 24 * 3];
        Yuv420p.ToRgb24(yuv, 32, 24, rgb);
        var original = (byte[])yuv.Clone();

        var fromYuv = File.ReadAllBytes(sut.Resolve(sut.Write("cam", "trk_y", yuv, Core.Frames.PixelFormats.Yuv420p, 32, 24, new BoundingBox(4, 4, 10, 10)))!);
        var fromRgb = File.ReadAllBytes(sut.Resolve(sut.Write("cam", "trk_r", rgb, 32, 24, new BoundingBox(4, 4, 10, 10)))!);

        Assert.Equal(fromRgb, fromYuv);
        Assert.Equal(original, yuv); // the pipeline's frame is not touched
    }

    [Theory]
    [InlineData("../outside.jpg")]
    [InlineData("/etc/hostname")]
    [InlineData("front/../../x.jpg")]
    [InlineData("")]
    public void Resolve_PathsLeadingOutside_Refused(string path)
    {
        using var dir = new TempDirectory();

        Assert.Null(new SnapshotStore(dir.Path, 90).Resolve(path));
    }
}
