using Detektor.Core.Messages;
using Detektor.Detection.Models;
using Detektor.Detection.Tests.Processors;
using Detektor.Imaging;
using Detektor.Testing;

namespace Detektor.Detection.Tests.Tracking;

/// <summary>The tracker behind the real detector, on four seconds of Debian's vtest.avi (people walking through a hall).</summary>
public sealed class TrackerOnFootageTests(ModelsFixture models)
{
    private const int Frames = 40;
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    /// <summary>The real detector and tracker, objects only, one consumer.</summary>
    private Dictionary<string, string?> Settings(TempDirectory snapshots) => new()
    {
        ["Detektor:Detection:ModelsDirectory"] = models.Directory,
        ["Detektor:Detection:PullOnStart"] = "false",
        ["Detektor:Detection:FacesEnabled"] = "false",
        ["Detektor:Detection:MotionThreshold"] = "0.001",
        ["Detektor:Detection:Tracking:SnapshotsDirectory"] = snapshots.Path,
        ["Detektor:Processing:Concurrency"] = "1",
        // All frames are queued at once, a backlog load shedding would thin out; these tests want the tracker to see every one.
        ["Detektor:Detection:LoadShedding:Enabled"] = "false",
    };

    [Fact]
    public async Task Stop_PeopleStillInView_EveryObjectThatEnteredLeavesOnceWithReasonShutdown()
    {
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        using var snapshots = new TempDirectory();
        const int frameCount = 20;
        var sut = new PipelineHost(Settings(snapshots));
        await using (sut)
        {
            await sut.StartAsync();
            await sut.WhenDetectorsLoaded;
            var frames = FrameSource.VideoFrames("vtest.avi", 5, frameCount, 768, 576);
            for (var i = 0; i < frameCount; i++)
            {
                await sut.PublishAsync("hall", i, T0.AddMilliseconds(100 * i), 0.2, frames[i].Pixels, 768, 576);
            }

            // Two seconds of people walking: everyone who entered is still in view when the process stops.
            var results = await sut.WaitForResultsAsync(frameCount);
            var late = await sut.StopAndReadResultsAsync();

            var running = results.SelectMany(r => r.TrackEvents).ToList();
            Assert.True(running.Count(e => e.Type == TrackEventType.Entered) >= 2, Describe(running));
            Assert.DoesNotContain(running, e => e.Type == TrackEventType.Left);
            Assert.All(results, r => Assert.False(r.TrackEventsOnly));
            var closing = Assert.Single(late);
            Assert.True(closing.TrackEventsOnly);
            Assert.Equal("hall", closing.Metadata.CameraId);
            Assert.Equal(frameCount - 1, closing.Metadata.Sequence); // carried by the camera's last frame
            Assert.Empty(closing.Detections);
            Assert.All(closing.TrackEvents, e => Assert.Equal((TrackEventType.Left, TrackEventReasons.Shutdown), (e.Type, e.Reason)));
            foreach (var o in running.Concat(closing.TrackEvents).GroupBy(e => e.ObjectId))
            {
                Assert.Equal(1, o.Count(e => e.Type == TrackEventType.Entered));
                Assert.Equal(1, o.Count(e => e.Type == TrackEventType.Left));
                Assert.Equal(TrackEventType.Left, o.Last().Type);
            }
        }
    }

    [Fact]
    public async Task Pipeline_PeopleWalkingInVtest_StableIdsEachEnteredAndLeftOnceWithSnapshots()
    {
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        using var snapshots = new TempDirectory();
        await using var sut = new PipelineHost(Settings(snapshots));
        await sut.StartAsync();
        await sut.WhenDetectorsLoaded;
        var frames = FrameSource.VideoFrames("vtest.avi", 5, Frames, 768, 576);

        // vtest.avi runs at 10 fps: capture times 100 ms apart. Then, 5 s after the last, a still frame: skipped by the
        // motion gate, yet the tracker sees the time pass and everyone leaves.
        for (var i = 0; i < Frames; i++)
        {
            await sut.PublishAsync("hall", i, T0.AddMilliseconds(100 * i), 0.2, frames[i].Pixels, 768, 576);
        }

        await sut.PublishAsync("hall", Frames, T0.AddSeconds(9), 0.0, frames[^1].Pixels, 768, 576);
        var results = (await sut.WaitForResultsAsync(Frames + 1)).OrderBy(r => r.Metadata.Sequence).ToList();

        var events = results.SelectMany(r => r.TrackEvents).ToList();
        var objects = events.GroupBy(e => e.ObjectId).ToList();
        Assert.True(objects.Count(o => o.First().Label == "person") >= 3, Describe(events));
        foreach (var o in objects)
        {
            Assert.Equal(1, o.Count(e => e.Type == TrackEventType.Entered));
            Assert.Equal(1, o.Count(e => e.Type == TrackEventType.Left));
            Assert.Equal(TrackEventType.Entered, o.First().Type);
            Assert.Equal(TrackEventType.Left, o.Last().Type);
            // left repeats the best reported view (score and snapshot), so the stored best stays one consistent view.
            Assert.Equal(o.SkipLast(1).Max(e => e.Score), o.Last().Score);
            Assert.Equal(o.First().SnapshotPath, o.Last().SnapshotPath);
        }

        // One person keeps one id for most of the stretch.
        var byTrack = results.SelectMany(r => r.Detections).Where(d => d.Label == "person" && d.TrackId is not null)
            .GroupBy(d => d.TrackId).Select(g => g.Count()).OrderDescending().ToList();
        TestContext.Current.SendDiagnosticMessage($"person tracks (frames each): {string.Join(", ", byTrack)}; {Describe(events)}");
        Assert.True(byTrack[0] >= 30, $"longest person track: {byTrack[0]} of {Frames} frames; all: {string.Join(", ", byTrack)}");

        // Those still there at the end leave on the skipped still frame; every left event names the last frame the object
        // was seen in, which is one of the stretch (not the frame that noticed the absence).
        var still = results[^1];
        Assert.Equal(FrameOutcome.Skipped, still.Outcome);
        Assert.Contains(still.TrackEvents, e => e.Type == TrackEventType.Left && e.Label == "person");
        Assert.All(still.TrackEvents, e => Assert.Equal(TrackEventType.Left, e.Type));
        var frameIds = results.Take(Frames).Select(r => r.Metadata.FrameId.ToString()).ToHashSet();
        Assert.All(events.Where(e => e.Type == TrackEventType.Left), e => Assert.Contains(e.FrameId, frameIds));

        // Every entered event has its snapshot: a JPEG of the frame with the box drawn.
        foreach (var entered in events.Where(e => e.Type == TrackEventType.Entered))
        {
            Assert.NotNull(entered.SnapshotPath);
            var file = Path.Combine(snapshots.Path, entered.SnapshotPath);
            var image = ImageCodec.Decode(File.ReadAllBytes(file));
            Assert.Equal((768, 576), (image.Width, image.Height));
            Assert.NotEmpty(entered.Frames);
        }
    }

    private static string Describe(IEnumerable<TrackEvent> events) =>
        string.Join("; ", events.Select(e => $"{e.ObjectId[^6..]} {e.Type} {e.Label} {e.Score:0.00}"));
}
