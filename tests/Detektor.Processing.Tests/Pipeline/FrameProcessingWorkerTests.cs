using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Processing.Pipeline;

namespace Detektor.Processing.Tests.Pipeline;

public class FrameProcessingWorkerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Handle_ChainOfProcessors_RunsInOrderAndPublishesOneProcessedResult()
    {
        var order = new List<string>();
        await using var harness = new WorkerHarness(new ProcessingOptions { Concurrency = 1 }, new Recording("a", order), new Recording("b", order, detect: true));
        await harness.StartAsync();

        var frame = await harness.PublishFrameAsync();
        var result = await harness.NextResultAsync(Wait);
        await harness.StopAsync();
        var events = (await harness.DrainEventsAsync()).Where(e => e.FrameId == frame.FrameId).ToList();

        Assert.Equal(["a", "b"], order);
        Assert.Equal(FrameOutcome.Processed, result.Outcome);
        Assert.Equal("person", Assert.Single(result.Detections).Label);
        Assert.Equal(
            [FrameEventType.Dequeued, FrameEventType.ProcessingStarted, FrameEventType.ProcessingCompleted, FrameEventType.ProcessingStarted, FrameEventType.ProcessingCompleted, FrameEventType.Detected],
            events.Select(e => e.Type));
        Assert.Equal(["a", "b"], result.Metadata.Stages.Select(s => s.Name));
        Assert.All(result.Metadata.Stages, s => Assert.Equal(Core.Frames.StageStatus.Completed, s.Status));
        Assert.Contains("\"person\":1", events.Single(e => e.Type == FrameEventType.Detected).Data, StringComparison.Ordinal);
        Assert.Equal(0, harness.Pool.Outstanding);
    }

    [Fact]
    public async Task Handle_ProcessorSkips_StopsChainAndRecordsSkipWithReason()
    {
        var order = new List<string>();
        await using var harness = new WorkerHarness(new ProcessingOptions { Concurrency = 1 }, new Skipping("gate", "no_motion"), new Recording("after", order));
        await harness.StartAsync();

        var frame = await harness.PublishFrameAsync();
        var result = await harness.NextResultAsync(Wait);
        await harness.StopAsync();
        var events = (await harness.DrainEventsAsync()).Where(e => e.FrameId == frame.FrameId).ToList();

        Assert.Empty(order);
        Assert.Equal(FrameOutcome.Skipped, result.Outcome);
        Assert.Equal("no_motion", result.Reason);
        var skip = Assert.Single(events, e => e.Type == FrameEventType.Skipped);
        Assert.Equal(("gate", "no_motion"), (skip.Stage, skip.Reason));
        Assert.DoesNotContain(events, e => e.Type == FrameEventType.ProcessingCompleted);
    }

    [Fact]
    public async Task Handle_ProcessorThrowsOnce_RetriesAndSucceeds()
    {
        var flaky = new Flaky(failures: 1);
        await using var harness = new WorkerHarness(new ProcessingOptions { Concurrency = 1, MaxAttempts = 2 }, flaky);
        await harness.StartAsync();

        var frame = await harness.PublishFrameAsync();
        var result = await harness.NextResultAsync(Wait);
        await harness.StopAsync();
        var events = (await harness.DrainEventsAsync()).Where(e => e.FrameId == frame.FrameId).ToList();

        Assert.Equal(FrameOutcome.Processed, result.Outcome);
        Assert.Equal(2, flaky.Calls);
        Assert.Equal(2, events.Count(e => e.Type == FrameEventType.ProcessingStarted));
        Assert.Contains("\"attempt\":2", events.Last(e => e.Type == FrameEventType.ProcessingStarted).Data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handle_ProcessorAlwaysThrows_RecordsFailureWithMaskedErrorAndStillPublishesResult()
    {
        var flaky = new Flaky(failures: int.MaxValue, message: "cannot reach rtsp://admin:hunter2@cam/stream");
        await using var harness = new WorkerHarness(new ProcessingOptions { Concurrency = 1, MaxAttempts = 3 }, flaky);
        await harness.StartAsync();

        var frame = await harness.PublishFrameAsync();
        var result = await harness.NextResultAsync(Wait);
        await harness.StopAsync();
        var events = (await harness.DrainEventsAsync()).Where(e => e.FrameId == frame.FrameId).ToList();

        Assert.Equal(3, flaky.Calls);
        Assert.Equal(FrameOutcome.Failed, result.Outcome);
        var failed = Assert.Single(events, e => e.Type == FrameEventType.ProcessingFailed);
        Assert.Contains("rtsp://admin:***@cam", failed.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", failed.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", result.Reason, StringComparison.Ordinal);
        Assert.Equal(0, harness.Pool.Outstanding);
    }

    [Fact]
    public async Task Handle_ProcessorHangs_WatchdogCancelsItAndFrameFails()
    {
        await using var harness = new WorkerHarness(new ProcessingOptions { Concurrency = 1, MaxAttempts = 1, ProcessorTimeoutSeconds = 1 }, new Hanging());
        await harness.StartAsync();

        var frame = await harness.PublishFrameAsync();
        var result = await harness.NextResultAsync(Wait);
        await harness.StopAsync();
        var events = (await harness.DrainEventsAsync()).Where(e => e.FrameId == frame.FrameId).ToList();

        Assert.Equal(FrameOutcome.Failed, result.Outcome);
        Assert.Contains("timed out", Assert.Single(events, e => e.Type == FrameEventType.ProcessingFailed).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_FramesStillQueued_AreRecordedAsDroppedAtShutdown()
    {
        var gate = new TaskCompletionSource();
        await using var harness = new WorkerHarness(new ProcessingOptions { Concurrency = 1 }, new Blocking(gate.Task));
        await harness.StartAsync();

        var frames = new List<Core.Frames.FrameMetadata>();
        for (var i = 0; i < 5; i++)
        {
            frames.Add(await harness.PublishFrameAsync());
        }

        var stopping = harness.StopAsync();
        gate.SetResult();
        await stopping;
        Assert.Null(harness.Sut.ExecuteTask!.Exception);
        var events = await harness.DrainEventsAsync();

        // Every frame ends: the one being processed completes or is dropped (shutdown), the queued ones are dropped.
        foreach (var frame in frames)
        {
            var mine = events.Where(e => e.FrameId == frame.FrameId).ToList();
            var terminalOrResult = mine.Count(e => e.Type == FrameEventType.Dropped) + (mine.Any(e => e.Type == FrameEventType.ProcessingCompleted) ? 1 : 0);
            Assert.True(terminalOrResult == 1, $"frame {frame.Sequence}: " + string.Join(",", mine.Select(e => e.Type + ":" + e.Reason)) + " all=" + events.Count);
            Assert.All(mine.Where(e => e.Type == FrameEventType.Dropped), e => Assert.Equal(DropReasons.Shutdown, e.Reason));
        }

        Assert.Equal(0, harness.Pool.Outstanding);
    }

    [Fact]
    public void Constructor_DuplicateProcessorNames_Throws()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new WorkerHarness(new ProcessingOptions(), new Recording("x", []), new Recording("x", [])));

        Assert.Contains("'x'", ex.Message, StringComparison.Ordinal);
    }

    private sealed class Recording(string name, List<string> order, bool detect = false) : FrameProcessor
    {
        public override string Name => name;

        public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
        {
            order.Add(name);
            if (detect)
            {
                frame.Detections.Add(new Detection("person", 0.9f, new BoundingBox(1, 1, 2, 2)));
            }

            return ValueTask.FromResult(ProcessorResult.Continue);
        }
    }

    private sealed class Skipping(string name, string reason) : FrameProcessor
    {
        public override string Name => name;

        public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken) =>
            ValueTask.FromResult(ProcessorResult.Skip(reason));
    }

    private sealed class Flaky(int failures, string message = "boom") : FrameProcessor
    {
        public int Calls { get; private set; }

        public override string Name => "flaky";

        public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
        {
            Calls++;
            return Calls <= failures ? throw new InvalidOperationException(message) : ValueTask.FromResult(ProcessorResult.Continue);
        }
    }

    private sealed class Hanging : FrameProcessor
    {
        public override string Name => "hanging";

        public override async ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return ProcessorResult.Continue;
        }
    }

    private sealed class Blocking(Task gate) : FrameProcessor
    {
        public override string Name => "blocking";

        public override async ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
        {
            await gate.WaitAsync(cancellationToken);
            return ProcessorResult.Continue;
        }
    }
}
