using Detektor.Detection.Decoding;
using Detektor.Detection.Detectors;
using Detektor.Detection.Inference;
using Detektor.Detection.Models;
using Detektor.Detection.Preprocessing;

namespace Detektor.Detection.Tests.Detectors;

public sealed class FaceDetectorTests(ModelsFixture models) : IDisposable
{
    private readonly Lazy<FaceDetector> _sut = new(() => FaceDetector.Open(
        Path.Combine(Path.GetDirectoryName(models.OnnxPath(ModelCatalog.BlazeFaceModel))!, ModelCatalog.BlazeFaceBackFile), new InferenceSettings()));

    private static DetectRequest Faces => new(new ClassFilter(1, 0.5f), 0.3f, 20, "faces");

    [Theory]
    [InlineData("basketball1.png")]
    [InlineData("messi5.jpg")]
    public void Detect_ImageWithFaces_FindsFaces(string file)
    {
        var image = FrameSource.Image(file);
        var found = new List<Core.Messages.Detection>();

        _sut.Value.Detect(image.Pixels, image.Width, image.Height, Faces, found);

        var summary = string.Join("; ", found.Select(d => $"{d.Confidence:0.00} {d.Box}"));
        Assert.True(found.Count >= 1, $"no face in {file}");
        Assert.All(found, d =>
        {
            Assert.Equal("face", d.Label);
            Assert.Equal("faces", d.Source);
            // A face is small relative to these pictures and roughly square.
            Assert.True(d.Box.Width < image.Width / 2f && d.Box.Height < image.Height / 2f, summary);
            Assert.InRange(d.Box.Width / d.Box.Height, 0.5f, 2f);
        });
    }

    [Fact]
    public void Detect_TestPattern_FindsNoFace()
    {
        var pattern = FrameSource.TestPattern(640, 480);
        var found = new List<Core.Messages.Detection>();

        _sut.Value.Detect(pattern.Pixels, pattern.Width, pattern.Height, Faces, found);

        Assert.Empty(found);
    }

    [Fact]
    public void Detect_RegionAroundAFace_MapsTheBoxBackToFramePixels()
    {
        var image = FrameSource.Image("messi5.jpg");
        var whole = new List<Core.Messages.Detection>();
        _sut.Value.Detect(image.Pixels, image.Width, image.Height, Faces, whole);
        var face = whole.OrderByDescending(d => d.Confidence).First().Box;
        var region = new PixelRect((int)face.X - 40, (int)face.Y - 40, (int)face.Width + 80, (int)face.Height + 80);
        var inRegion = new List<Core.Messages.Detection>();

        _sut.Value.Detect(image.Pixels, image.Width, image.Height, region, Faces, inRegion);

        Assert.Contains(inRegion, d => d.Box.IoU(face) > 0.5f);
    }

    public void Dispose()
    {
        if (_sut.IsValueCreated)
        {
            _sut.Value.Dispose();
        }
    }
}
