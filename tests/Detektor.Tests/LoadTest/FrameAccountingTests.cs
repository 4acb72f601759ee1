using System.Diagnostics;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.LoadTest;

namespace Detektor.Tests.LoadTest;

public class FrameAccountingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 20, 0, 0, TimeSpan.Zero);
    private static readonly ActivityTraceId Trace = ActivityTraceId.CreateRandom();

    [Fact]
    public void Summarize_EveryFrameStored_NothingLostAndEveryLifecycleComplete()
    {
        var sut = new FrameAccounting();
        sut.Add(Stored(Frame(1)));
        sut.Add(Stored(Frame(2)));

        var (frames, latency) = sut.Summarize(T0);

        Assert.Equal(2, frames.Captured);
        Assert.Equal(2, frames.Processed);
        Assert.Equal(0, frames.Lost);
        Assert.Equal(1.0, frames.LifecycleCompleteness);
        Assert.Equal(2, latency.CaptureToStored!.Count);
        Assert.Equal(30, latency.CaptureToStored.P50Ms);
        Assert.Contains("store", latency.Stages.Keys);
    }

    [Fact]
    public void Summarize_CapturedFrameWithoutTerminalState_CountsItLost()
    {
        var sut = new FrameAccounting();
        sut.Add(Stored(Frame(1)));
        var stuck = Frame(2);
        sut.Add([Event(stuck, FrameEventType.Captured, 0), Event(stuck, FrameEventType.Queued, 1)]);

        var (frames, _) = sut.Summarize(T0);

        Assert.Equal(2, frames.Captured);
        Assert.Equal(1, frames.Lost);
        Assert.Equal(1, frames.LifecycleComplete);
        Assert.Equal(0.5, frames.LifecycleCompleteness);
        Assert.Contains(stuck.ToString(), Assert.Single(frames.LostExamples), StringComparison.Ordinal);
    }

    [Fact]
    public void Summarize_GapInACameraSequence_CountsTheMissingFrameLost()
    {
        var sut = new FrameAccounting();
        sut.Add(Stored(Frame(1)));
        sut.Add(Stored(Frame(3))); // frame 2 left no event at all

        var (frames, _) = sut.Summarize(T0);

        Assert.Equal(3, frames.Captured);
        Assert.Equal(2, frames.Processed);
        Assert.Equal(1, frames.Lost);
        Assert.Contains("#2", Assert.Single(frames.LostExamples), StringComparison.Ordinal);
    }

    [Fact]
    public void Summarize_SkippedAndDroppedWithReasons_CountedByReasonAndNotLost()
    {
        var sut = new FrameAccounting();
        var skipped = Frame(1);
        sut.Add([Event(skipped, FrameEventType.Captured, 0), Event(skipped, FrameEventType.Skipped, 5, "motion", SkipReasons.NoMotion), Event(skipped, FrameEventType.Stored, 20, "store")]);
        var dropped = Frame(2);
        sut.Add([Event(dropped, FrameEventType.Captured, 0), Event(dropped, FrameEventType.Dropped, 3, "bus", DropReasons.QueueFull)]);
        sut.Add(Stored(Frame(3)));

        var (frames, _) = sut.Summarize(T0);

        Assert.Equal(3, frames.Captured);
        Assert.Equal(1, frames.Processed);
        Assert.Equal(1, frames.SkippedByReason[SkipReasons.NoMotion]);
        Assert.Equal(1, frames.DroppedByReason[DropReasons.QueueFull]);
        Assert.Equal(0, frames.Lost);
        Assert.Equal(frames.Captured, frames.Processed + frames.Failed + frames.Skipped + frames.Dropped + frames.Lost);
    }

    [Fact]
    public void Summarize_DroppedWithoutReason_CountsItLost()
    {
        var sut = new FrameAccounting();
        var frame = Frame(1);
        var dropped = Event(frame, FrameEventType.Dropped, 3, "bus", DropReasons.QueueFull) with { Reason = null };
        sut.Add([Event(frame, FrameEventType.Captured, 0), dropped]);

        var (frames, _) = sut.Summarize(T0);

        Assert.Equal(1, frames.Lost);
        Assert.Equal(0, frames.Dropped);
    }

    [Fact]
    public void Summarize_SameEventTwice_CountsItOnce()
    {
        var sut = new FrameAccounting();
        var events = Stored(Frame(1));
        sut.Add(events);
        sut.Add(events);

        var (frames, _) = sut.Summarize(T0);

        Assert.Equal(1, frames.Captured);
        Assert.Equal(1.0, frames.LifecycleCompleteness);
    }

    [Fact]
    public void Summarize_FramesBeforeTheMeasuredWindow_AccountedButNotInLatency()
    {
        var sut = new FrameAccounting();
        sut.Add(Stored(Frame(1)));

        var (frames, latency) = sut.Summarize(T0.AddMinutes(1));

        Assert.Equal(1, frames.Processed);
        Assert.Null(latency.CaptureToStored);
        Assert.Empty(latency.Stages);
    }

    internal static FrameId Frame(long sequence) => new((T0 - DateTimeOffset.UnixEpoch).Ticks / 10 + sequence, "cam", sequence, 0xabcdef01);

    internal static FrameEvent[] Stored(FrameId frame) =>
    [
        Event(frame, FrameEventType.Captured, 0),
        Event(frame, FrameEventType.Queued, 1, "bus"),
        Event(frame, FrameEventType.Dequeued, 2, "bus", duration: 1),
        Event(frame, FrameEventType.ProcessingCompleted, 5, "sample", duration: 3),
        Event(frame, FrameEventType.Stored, 30, "store", duration: 25),
    ];

    internal static FrameEvent Event(FrameId frame, FrameEventType type, double atMs, string stage = "capture", string? reason = null, double? duration = null) => new()
    {
        EventId = Guid.NewGuid(),
        FrameId = frame,
        CameraId = frame.CameraId,
        Type = type,
        Stage = stage,
        Service = "detektor",
        Timestamp = frame.Timestamp.AddMilliseconds(atMs),
        TraceId = Trace,
        Reason = reason,
        Duration = duration is { } d ? TimeSpan.FromMilliseconds(d) : null,
    };
}
