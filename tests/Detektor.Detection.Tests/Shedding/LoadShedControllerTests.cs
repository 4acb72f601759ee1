using Detektor.Detection.Shedding;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Detection.Tests.Shedding;

public sealed class LoadShedControllerTests
{
    private static readonly Dictionary<string, int> Priorities = new(StringComparer.Ordinal) { ["yard"] = 0, ["door"] = 10, ["gate"] = 0 };

    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Admit_WaitBelowBudget_DetectsEveryFrame()
    {
        var sut = Create();

        for (var i = 0; i < 20; i++)
        {
            Assert.True(sut.Admit("yard", TimeSpan.FromMilliseconds(900)));
            _time.Advance(TimeSpan.FromMilliseconds(200));
        }

        Assert.Equal(0, sut.Level);
    }

    [Fact]
    public void Admit_WaitAboveBudget_ShedsLowestPriorityFirstOneStepPerInterval()
    {
        var sut = Create();
        Admit(sut, "door", 0);
        Admit(sut, "yard", 0);

        Overload(sut, intervals: 1);
        Assert.Equal(1, sut.Level);
        Assert.Equal([("door", 0), ("yard", 1)], Steps(sut));

        Overload(sut, intervals: 2); // the low group reaches its deepest step (MaxSteps 3) before the high one is touched
        Assert.Equal([("door", 0), ("yard", 3)], Steps(sut));

        Overload(sut, intervals: 1);
        Assert.Equal([("door", 1), ("yard", 3)], Steps(sut));

        Overload(sut, intervals: 10); // never past the deepest step of every group
        Assert.Equal(6, sut.Level);
        Assert.Equal([("door", 3), ("yard", 3)], Steps(sut));
    }

    [Fact]
    public void Admit_CameraAtStepTwo_DetectsOneFrameInFour()
    {
        var sut = Create();
        Admit(sut, "door", 0);
        Admit(sut, "yard", 0);
        Overload(sut, intervals: 2);

        var admitted = Enumerable.Range(0, 16).Select(_ => sut.Admit("yard", TimeSpan.Zero)).ToArray();

        var at = Enumerable.Range(0, 16).Where(i => admitted[i]).ToArray();
        Assert.Equal(4, at.Length);
        Assert.Equal([4, 4, 4], at.Zip(at.Skip(1), (a, b) => b - a).ToArray()); // evenly spread, not in bursts
        Assert.All(Enumerable.Range(0, 16).Select(_ => sut.Admit("door", TimeSpan.Zero)), Assert.True);
    }

    [Fact]
    public void Admit_SamePriority_ShedTogether()
    {
        var sut = Create();
        Admit(sut, "gate", 0);
        Admit(sut, "yard", 0);
        Admit(sut, "door", 0);

        Overload(sut, intervals: 1);

        Assert.Equal([("door", 0), ("gate", 1), ("yard", 1)], Steps(sut));
    }

    [Fact]
    public void Admit_WaitFallsBelowRecoverRatio_GivesBackOneStepPerRecoverPeriod()
    {
        var sut = Create();
        Admit(sut, "door", 0);
        Admit(sut, "yard", 0);
        Overload(sut, intervals: 4);
        Assert.Equal(4, sut.Level);

        // 600 ms is under the budget but above half of it: hold.
        Feed(sut, TimeSpan.FromMilliseconds(600), TimeSpan.FromSeconds(10));
        Assert.Equal(4, sut.Level);

        // 100 ms: one step back per 5 s (RecoverSeconds), not per interval.
        Feed(sut, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(6));
        Assert.Equal(3, sut.Level);
        Feed(sut, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(15));
        Assert.Equal(0, sut.Level);
        Assert.Equal([("door", 0), ("yard", 0)], Steps(sut));
    }

    [Fact]
    public void Admit_OverloadAgainWhileRecovering_RestartsTheRecoverPeriod()
    {
        var sut = Create();
        Admit(sut, "yard", 0);
        Overload(sut, intervals: 2);
        Feed(sut, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(4));
        Overload(sut, intervals: 1);
        Assert.Equal(3, sut.Level);

        Feed(sut, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(4));

        Assert.Equal(3, sut.Level);
    }

    private LoadShedController Create() => new(
        new LoadSheddingOptions { MaxQueueWaitMs = 1000, RecoverRatio = 0.5, IntervalMs = 1000, RecoverSeconds = 5, MaxSteps = 3 },
        camera => Priorities[camera],
        _time);

    private static void Admit(LoadShedController sut, string camera, int waitMs) => sut.Admit(camera, TimeSpan.FromMilliseconds(waitMs));

    /// <summary>Frames waiting 3 s, every 100 ms, for whole intervals.</summary>
    private void Overload(LoadShedController sut, int intervals) => Feed(sut, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(intervals));

    private void Feed(LoadShedController sut, TimeSpan wait, TimeSpan duration)
    {
        for (var t = TimeSpan.Zero; t < duration; t += TimeSpan.FromMilliseconds(100))
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            sut.Admit("yard", wait);
        }
    }

    private static (string, int)[] Steps(LoadShedController sut) => [.. sut.Steps().OrderBy(s => s.Camera, StringComparer.Ordinal)];
}
