using Detektor.Bus.Abstractions;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Telemetry;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Capture.Tests.Cameras;

/// <summary>
/// A frame's messages leave capture together: the camera loop starts the next message before the previous one is
/// acknowledged, so over Redis a frame costs one round trip, not one per message.
/// </summary>
public class CameraWorkerPublishTests
{
    [Fact]
    public async Task SkippedAtCapture_TheResultIsPublishedWhileTheCapturedEventIsStillInFlight()
    {
        var recorder = new HoldingRecorder();
        await using var capture = await CaptureHarness.StartAsync(
            CaptureHarness.Settings(("cam", "testsrc://")),
            services =>
            {
                services.AddSingleton<ILifecycleRecorder>(sp => recorder.Wrap(sp));
                services.AddSingleton<ICaptureGate>(new SkipEverything());
            });
        var bus = capture.Services.GetRequiredService<IFrameBus>();
        await using var results = bus.Subscribe(Topics.Results, "test", "results");
        var batch = new List<BusDelivery<FrameResult>>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        await results.ReadAsync(batch, 1, timeout.Token);
        var first = batch[0].Message;
        var stillHeld = recorder.IsHeld(first.Metadata.FrameId);
        var frameEvents = recorder.Types(first.Metadata.FrameId);
        recorder.ReleaseAll();

        Assert.Equal(FrameOutcome.Skipped, first.Outcome);
        Assert.Equal("test_skip", first.Reason);
        Assert.True(stillHeld, "the skipped result was published only after the captured event was acknowledged");
        Assert.Equal([FrameEventType.Captured, FrameEventType.Skipped], frameEvents);
        Assert.Equal(0, capture.Frames.Count("cam"));
    }

    [Fact]
    public async Task Published_TheFrameIsOnTheBusWhileTheCapturedEventIsStillInFlight()
    {
        var recorder = new HoldingRecorder();
        await using var capture = await CaptureHarness.StartAsync(
            CaptureHarness.Settings(("cam", "testsrc://")),
            services => services.AddSingleton<ILifecycleRecorder>(sp => recorder.Wrap(sp)));

        await capture.WaitForFramesAsync("cam", 1, TimeSpan.FromSeconds(60));
        var first = capture.Frames.Of("cam")[0];
        var stillHeld = recorder.IsHeld(first.FrameId);
        var frameEvents = recorder.Types(first.FrameId);
        recorder.ReleaseAll();

        Assert.True(stillHeld, "the frame was published only after its captured event was acknowledged");
        Assert.Equal([FrameEventType.Captured, FrameEventType.Queued], frameEvents);
    }

    private sealed class SkipEverything : ICaptureGate
    {
        public string? SkipReason(FrameMetadata metadata) => "test_skip";
    }

    /// <summary>Records through the bus, but holds back the acknowledgement of every <c>captured</c> event until released.</summary>
    private sealed class HoldingRecorder
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<FrameId, TaskCompletionSource> _held = [];
        private readonly Dictionary<FrameId, List<FrameEventType>> _types = [];
        private bool _released;

        public ILifecycleRecorder Wrap(IServiceProvider services) =>
            new Recorder(this, new BusLifecycleRecorder(services.GetRequiredService<IFrameBus>(), services.GetRequiredService<BusTelemetry>()));

        public bool IsHeld(FrameId id)
        {
            lock (_lock)
            {
                return _held.TryGetValue(id, out var tcs) && !tcs.Task.IsCompleted;
            }
        }

        public List<FrameEventType> Types(FrameId id)
        {
            lock (_lock)
            {
                return _types.TryGetValue(id, out var types) ? [.. types] : [];
            }
        }

        public void ReleaseAll()
        {
            lock (_lock)
            {
                _released = true;
                foreach (var tcs in _held.Values)
                {
                    tcs.TrySetResult();
                }
            }
        }

        private ValueTask Record(ILifecycleRecorder inner, FrameEvent e, CancellationToken cancellationToken)
        {
            TaskCompletionSource? hold = null;
            lock (_lock)
            {
                (_types.TryGetValue(e.FrameId, out var types) ? types : _types[e.FrameId] = []).Add(e.Type);
                if (e.Type == FrameEventType.Captured && !_released)
                {
                    hold = _held[e.FrameId] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }

            var recorded = inner.RecordAsync(e, cancellationToken);
            return hold is null ? recorded : HoldAsync(recorded, hold.Task);
        }

        private static async ValueTask HoldAsync(ValueTask recorded, Task hold)
        {
            await recorded;
            await hold;
        }

        private sealed class Recorder(HoldingRecorder owner, ILifecycleRecorder inner) : ILifecycleRecorder
        {
            public ValueTask RecordAsync(FrameEvent frameEvent, CancellationToken cancellationToken = default) => owner.Record(inner, frameEvent, cancellationToken);
        }
    }
}
