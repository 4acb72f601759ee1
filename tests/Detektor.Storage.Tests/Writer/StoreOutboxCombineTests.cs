using Detektor.Storage.Abstractions;
using Detektor.Storage.Writer;

namespace Detektor.Storage.Tests.Writer;

public sealed class StoreOutboxCombineTests
{
    private static DetectionRecord Detection(Guid stored, string label) =>
        new("frame-1", "cam1", DateTimeOffset.UnixEpoch, label, 0.9f, 1, 2, 3, 4, null, null, stored);

    [Fact]
    public void Combine_SameResultInTwoParts_TakesItsDetectionsOnce()
    {
        var once = Guid.NewGuid();
        var twice = Guid.NewGuid();
        var first = new StoreBatch([], [Detection(twice, "person"), Detection(twice, "car"), Detection(once, "dog")]);
        var second = new StoreBatch([], [Detection(twice, "person"), Detection(twice, "car")]);

        var combined = StoreOutbox.Combine([first, second]);

        Assert.True(combined.Replay);
        Assert.Equal(["person", "car", "dog"], combined.Detections.Select(d => d.Label));
    }

    [Fact]
    public void Combine_DifferentResults_KeepsEveryDetection()
    {
        var a = Guid.NewGuid();
        var b = Guid.NewGuid();

        var combined = StoreOutbox.Combine([new StoreBatch([], [Detection(a, "person")]), new StoreBatch([], [Detection(b, "car"), Detection(b, "car")])]);

        Assert.Equal([(a, "person"), (b, "car"), (b, "car")], combined.Detections.Select(d => (d.StoredEventId, d.Label)));
    }
}
