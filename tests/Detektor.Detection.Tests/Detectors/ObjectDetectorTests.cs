using Detektor.Detection.Decoding;
using Detektor.Detection.Detectors;
using Detektor.Detection.Inference;
using Detektor.Detection.Models;
using Detektor.Imaging;

namespace Detektor.Detection.Tests.Detectors;

public sealed class ObjectDetectorTests(ModelsFixture models) : IDisposable
{
    private readonly Lazy<ObjectDetector> _sut = new(() => ObjectDetector.Open(
        models.OnnxPath(ModelCatalog.CenterNetModel), ObjectModelKind.Auto, null, new InferenceSettings { IntraOpThreads = 2 }));

    private static DetectRequest Request(float minScore = 0.3f) => new(new ClassFilter(LabelSet.Coco, minScore, null, null), 0.5f, 100, "objects");

    public static List<Core.Messages.Detection> Detect(ObjectDetector sut, RgbImage image, DetectRequest request)
    {
        var found = new List<Core.Messages.Detection>();
        sut.Detect(image.Pixels, image.Width, image.Height, request, found);
        return found;
    }

    [Fact]
    public void Detect_VtestFrameAt5s_FindsAtLeastFourPersonsAndACar()
    {
        var frame = FrameSource.VideoFrame("vtest.avi", 5, 768, 576);

        var found = Detect(_sut.Value, frame, Request());

        var summary = string.Join("; ", found.Select(d => $"{d.Label} {d.Confidence:0.00} {d.Box}"));
        Assert.True(found.Count(d => d.Label == "person") >= 4, summary);
        Assert.Contains(found, d => d.Label == "car");
        Assert.Equal(ObjectModelKind.CenterNet, _sut.Value.Kind);
        Assert.All(found, d =>
        {
            Assert.Equal("objects", d.Source);
            Assert.InRange(d.Box.X, 0, 768);
            Assert.InRange(d.Box.Right, 0, 768);
            Assert.InRange(d.Box.Bottom, 0, 576);
            Assert.True(d.Box.Width >= 1 && d.Box.Height >= 1);
        });
        // People stand: their boxes are taller than wide.
        Assert.All(found.Where(d => d.Label == "person"), d => Assert.True(d.Box.Height > d.Box.Width, d.ToString()));
    }

    [Fact]
    public void Detect_Messi_FindsAPersonAndASportsBall()
    {
        var image = FrameSource.Image("messi5.jpg");

        var found = Detect(_sut.Value, image, Request());

        var summary = string.Join("; ", found.Select(d => $"{d.Label} {d.Confidence:0.00} {d.Box}"));
        Assert.Contains(found, d => d.Label == "person");
        Assert.True(found.Any(d => d.Label == "sports ball"), summary);
    }

    [Fact]
    public void Detect_TestPattern_FindsNothing()
    {
        var pattern = FrameSource.TestPattern(640, 480);

        var found = Detect(_sut.Value, pattern, Request());

        Assert.Empty(found);
    }

    [Fact]
    public void Detect_LabelFilterAndMinScores_KeepOnlyWhatWasAskedFor()
    {
        var frame = FrameSource.VideoFrame("vtest.avi", 5, 768, 576);
        var onlyCars = new DetectRequest(new ClassFilter(LabelSet.Coco, 0.3f, ["car"], null), 0.5f, 100, "objects");
        var strictPersons = new DetectRequest(new ClassFilter(LabelSet.Coco, 0.3f, null, new Dictionary<string, float> { ["person"] = 0.99f }), 0.5f, 100, "objects");

        var cars = Detect(_sut.Value, frame, onlyCars);
        var noPersons = Detect(_sut.Value, frame, strictPersons);

        Assert.NotEmpty(cars);
        Assert.All(cars, d => Assert.Equal("car", d.Label));
        Assert.DoesNotContain(noPersons, d => d.Label == "person");
        Assert.Contains(noPersons, d => d.Label == "car");
    }

    [Fact]
    public void Detect_SameFrameTwice_GivesTheSameDetections()
    {
        var frame = FrameSource.VideoFrame("vtest.avi", 5, 768, 576);

        var first = Detect(_sut.Value, frame, Request());
        var second = Detect(_sut.Value, frame, Request());

        Assert.Equal(first, second);
    }

    public void Dispose()
    {
        if (_sut.IsValueCreated)
        {
            _sut.Value.Dispose();
        }
    }
}
