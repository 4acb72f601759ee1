using Detektor.Core.Messages;
using Detektor.Detection.Tracking;
using Found = Detektor.Core.Messages.Detection;

namespace Detektor.Detection.Tests.Tracking;

public sealed class CameraTrackerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private int _ids;

    private CameraTracker Create(int minHits = 3, double leftAfterSeconds = 2, double updateInterval = 1, int maxTracks = 64, params string[] labels) =>
        new(new TrackerSettings(
            new HashSet<string>(labels.Length == 0 ? ["person", "car"] : labels, StringComparer.OrdinalIgnoreCase),
            MinScore: 0.4f, IouThreshold: 0.25f, MinHits: minHits, LeftAfter: TimeSpan.FromSeconds(leftAfterSeconds),
            UpdateScoreStep: 0.05f, UpdateMinInterval: TimeSpan.FromSeconds(updateInterval), MaxTracks: maxTracks, MaxFramesPerEvent: 5),
            () => $"trk_{++_ids}");

    private static TrackedFrame Frame(int n) => new($"f{n}", $"trace{n}", T0.AddMilliseconds(100 * n));

    private static Found Person(float x, float score = 0.8f, float y = 100) => new("person", score, new BoundingBox(x, y, 60, 160));

    private static List<TrackChange> Step(CameraTracker sut, int n, params Found[] detections) => Step(sut, n, out _, detections);

    private static List<TrackChange> Step(CameraTracker sut, int n, out List<Found> tagged, params Found[] detections)
    {
        tagged = [.. detections];
        var changes = new List<TrackChange>();
        sut.Step(Frame(n), tagged, changes);
        return changes;
    }

    [Fact]
    public void Step_PersonWalkingAcross_OneIdEnteredOnceAfterMinHitsThenLeftOnce()
    {
        var sut = Create();
        var all = new List<TrackChange>();
        var ids = new HashSet<string?>();
        for (var n = 0; n < 30; n++)
        {
            all.AddRange(Step(sut, n, out var tagged, Person(50 + (n * 12))));
            if (n >= 2)
            {
                ids.Add(tagged[0].TrackId);
            }
        }

        // 4 s later: gone.
        var aged = new List<TrackChange>();
        sut.Age(T0.AddSeconds(7), aged);
        all.AddRange(aged);

        var entered = Assert.Single(all, c => c.Kind == TrackChangeKind.Entered);
        Assert.Equal("trk_1", entered.Track.Id);
        Assert.Equal(["f0", "f1", "f2"], entered.Frames);
        var left = Assert.Single(all, c => c.Kind == TrackChangeKind.Left);
        Assert.Same(entered.Track, left.Track);
        Assert.Equal("f29", left.Track.LastSeen.FrameId);
        Assert.Equal(["trk_1"], ids);
        Assert.Empty(sut.Tracks);
    }

    [Fact]
    public void Close_ConfirmedAndTentativeTracksInView_ConfirmedLeaveOnceTentativeVanish()
    {
        var sut = Create(minHits: 3);
        var all = new List<TrackChange>();
        for (var n = 0; n < 5; n++)
        {
            all.AddRange(n < 3 ? Step(sut, n, Person(50 + (n * 10))) : Step(sut, n, Person(50 + (n * 10)), Person(500)));
        }

        var closing = new List<TrackChange>();
        sut.Close(closing);
        var again = new List<TrackChange>();
        sut.Close(again);
        sut.Age(T0.AddMinutes(1), again);

        var entered = Assert.Single(all, c => c.Kind == TrackChangeKind.Entered);
        var left = Assert.Single(closing);
        Assert.Equal(TrackChangeKind.Left, left.Kind);
        Assert.Same(entered.Track, left.Track);
        Assert.Equal("f4", left.Track.LastSeen.FrameId);
        Assert.Equal(["f3", "f4"], left.Frames); // the frames since entered
        Assert.Empty(again); // closed once: nothing left to leave twice
        Assert.Empty(sut.Tracks);
    }

    [Fact]
    public void Step_BeforeMinHits_NoTrackIdAndNoEvent()
    {
        var sut = Create(minHits: 3);

        var first = Step(sut, 0, out var tagged0, Person(100));
        var second = Step(sut, 1, out var tagged1, Person(105));

        Assert.Empty(first);
        Assert.Empty(second);
        Assert.Null(tagged0[0].TrackId);
        Assert.Null(tagged1[0].TrackId);
        Assert.Single(sut.Tracks);
    }

    [Fact]
    public void Age_TentativeTrackNeverConfirmed_VanishesWithoutEvents()
    {
        var sut = Create(minHits: 3);
        Step(sut, 0, Person(100));

        var changes = new List<TrackChange>();
        sut.Age(T0.AddSeconds(10), changes);

        Assert.Empty(changes);
        Assert.Empty(sut.Tracks);
    }

    [Fact]
    public void Step_TwoPeopleApart_TwoIdsThatDoNotSwap()
    {
        var sut = Create(minHits: 1);
        var a = new HashSet<string?>();
        var b = new HashSet<string?>();
        for (var n = 0; n < 10; n++)
        {
            Step(sut, n, out var tagged, Person(100 + (n * 5)), Person(500 - (n * 5)));
            a.Add(tagged[0].TrackId);
            b.Add(tagged[1].TrackId);
        }

        Assert.Single(a);
        Assert.Single(b);
        Assert.NotEqual(a.Single(), b.Single());
    }

    [Fact]
    public void Step_SameBoxDifferentLabel_NotMatched()
    {
        var sut = Create(minHits: 1);
        Step(sut, 0, out var first, Person(100));
        Step(sut, 1, out var second, new Found("car", 0.9f, Person(100).Box));

        Assert.NotEqual(first[0].TrackId, second[0].TrackId);
        Assert.Equal(2, sut.Tracks.Count);
    }

    [Fact]
    public void Step_UntrackedLabelOrLowScore_LeftAloneAndNoTrack()
    {
        var sut = Create(minHits: 1);

        var changes = Step(sut, 0, out var tagged, new Found("chair", 0.9f, new BoundingBox(0, 0, 50, 50)), Person(300, score: 0.3f));

        Assert.Empty(changes);
        Assert.All(tagged, d => Assert.Null(d.TrackId));
        Assert.Empty(sut.Tracks);
    }

    [Fact]
    public void Step_BetterScore_UpdatedOnlyAfterTheIntervalAndAStep()
    {
        var sut = Create(minHits: 1, updateInterval: 1);
        Step(sut, 0, Person(100, 0.5f));                          // entered at 0.5
        var tooSoon = Step(sut, 5, Person(102, 0.9f));             // 0.5 s later: too soon
        var tooSmall = Step(sut, 12, Person(104, 0.52f));          // 1.2 s: not better enough than 0.5 + 0.05
        var better = Step(sut, 15, Person(106, 0.95f));            // 1.5 s, 0.95: updated

        Assert.Empty(tooSoon);
        Assert.Empty(tooSmall);
        var updated = Assert.Single(better);
        Assert.Equal(TrackChangeKind.Updated, updated.Kind);
        Assert.Equal(0.95f, updated.Detection!.Confidence);
        Assert.Equal(0.95f, updated.Track.BestScore);
        Assert.Equal("f15", updated.Track.BestFrameId);
        Assert.Equal(["f5", "f12", "f15"], updated.Frames);
    }

    [Fact]
    public void Step_FastMover_MatchedThroughItsPredictedPosition()
    {
        var sut = Create(minHits: 1);
        // Walks (15 px per 100 ms), then runs (40 px per 100 ms): consecutive 60 px boxes then overlap with IoU 0.2, under
        // the threshold; only the position predicted from the motion so far keeps the id.
        var x = 100f;
        var ids = new HashSet<string?>();
        for (var n = 0; n < 12; n++)
        {
            x += n < 3 ? 15 : 40;
            Step(sut, n, out var tagged, Person(x));
            ids.Add(tagged[0].TrackId);
        }

        Assert.Single(ids);
        Assert.Equal(0.2f, new BoundingBox(0, 0, 60, 160).IoU(new BoundingBox(40, 0, 60, 160)), 3);
    }

    [Fact]
    public void Step_OlderFrameArrivesLate_MatchesButDoesNotAgeOrMoveTheTrack()
    {
        var sut = Create(minHits: 1, leftAfterSeconds: 0.5);
        Step(sut, 10, Person(100));
        var late = Step(sut, 2, out var tagged, Person(98));

        Assert.Empty(late);
        Assert.Equal(sut.Tracks[0].Id, tagged[0].TrackId);
        Assert.Equal("f10", sut.Tracks[0].LastSeen.FrameId);
    }

    [Fact]
    public void Step_MoreObjectsThanMaxTracks_ExtraCountedNotTracked()
    {
        var sut = Create(minHits: 1, maxTracks: 2);

        Step(sut, 0, Person(0), Person(200), Person(400));

        Assert.Equal(2, sut.Tracks.Count);
        Assert.Equal(1, sut.Overflow);
    }

    [Fact]
    public void For_CameraOverrides_LabelsAndMinScoreFromTheCamera()
    {
        var options = new TrackingOptions { Labels = ["person"], MinScore = 0.4 };
        var camera = new CameraDetectionOptions { TrackLabels = ["car"], TrackMinScore = 0.7 };

        var sut = TrackerSettings.For(options, camera);
        var global = TrackerSettings.For(options, null);

        Assert.Equal(["car"], sut.Labels);
        Assert.Equal(0.7f, sut.MinScore);
        Assert.Equal(["person"], global.Labels);
        Assert.Equal(0.4f, global.MinScore);
    }
}
