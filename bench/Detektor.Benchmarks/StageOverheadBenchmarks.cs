using System.Diagnostics;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Detektor.Bus;
using Detektor.Bus.Abstractions;
using Detektor.Bus.InProcess;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Telemetry;
using Detektor.Core;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Telemetry;
using Detektor.Core.Tracing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Detektor.Benchmarks;

/// <summary>
/// What tracking costs one frame at one processing stage, exactly as FrameProcessingWorker does it: a sampled child span
/// with its tags, a <c>processing_started</c> and a <c>processing_completed</c> event created, counted in the metrics and
/// published on the in-process lifecycle topic (and read back by the store's consumer), and the stage entry in the
/// frame's metadata. The processor's own work is excluded. Goal: ≤ 10 µs per frame per stage.
/// </summary>
[MemoryDiagnoser]
public class StageOverheadBenchmarks
{
    private static readonly ActivitySource Source = new(TelemetryNames.Processing);
    private readonly List<BusDelivery<FrameEvent>> _drained = new(16);
    private ServiceProvider _services = null!;
    private ActivityListener _listener = null!;
    private MeterListener _meters = null!;
    private BusLifecycleRecorder _recorder = null!;
    private IBusSubscription<FrameEvent> _store = null!;
    private FrameMetadata _frame = null!;
    private ActivityContext _parent;
    private string _frameIdText = string.Empty;

    [Params(false, true)]
    public bool Sampled { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var telemetry = new BusTelemetry(_services.GetRequiredService<IMeterFactory>());
        var bus = new InProcessFrameBus(Options.Create(new BusOptions()), telemetry, new ServiceIdentity("bench"), TimeProvider.System);
        _recorder = new BusLifecycleRecorder(bus, telemetry);
        _store = bus.Subscribe(Topics.Lifecycle, "store", "bench");
        var sampled = Sampled;
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name.StartsWith("Detektor", StringComparison.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => sampled ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.PropagationData,
        };
        ActivitySource.AddActivityListener(_listener);

        // Metrics are collected as in production (an SDK listener enabled on every Detektor instrument).
        _meters = new MeterListener { InstrumentPublished = (i, l) => { if (i.Meter.Name.StartsWith("Detektor", StringComparison.Ordinal)) { l.EnableMeasurementEvents(i); } } };
        _meters.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
        _meters.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
        _meters.Start();

        _parent = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true);
        var id = new FrameIdGenerator(TimeProvider.System, 1).Next("front-door", 1);
        _frameIdText = id.ToString();
        _frame = new FrameMetadata { FrameId = id, CameraId = "front-door", CaptureTime = DateTimeOffset.UtcNow, Trace = TraceInfo.From(_parent) };
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener.Dispose();
        _meters.Dispose();
        _services.Dispose();
    }

    [Benchmark]
    public async ValueTask TrackOneStage()
    {
        var now = TimeProvider.System.GetUtcNow();
        using (var span = Source.StartActivity("process sample", ActivityKind.Internal, _parent))
        {
            if (span is { IsAllDataRequested: true })
            {
                span.SetTag(SemanticAttributes.FrameId, _frameIdText);
                span.SetTag(SemanticAttributes.CameraId, _frame.CameraId);
                span.SetTag(SemanticAttributes.PipelineStage, "sample");
                span.SetTag(SemanticAttributes.Processor, "sample");
            }

            var stage = new ProcessingStage { Name = "sample", Service = "bench", Status = StageStatus.Processing, Started = now };
            _frame.Stages.Add(stage);
            await _recorder.RecordAsync(FrameEvent.Create(FrameEventType.ProcessingStarted, _frame, "sample", "bench", now, span));
            stage.Status = StageStatus.Completed;
            stage.Completed = now;
            stage.DurationMs = 0.1;
            await _recorder.RecordAsync(FrameEvent.Create(FrameEventType.ProcessingCompleted, _frame, "sample", "bench", now, span, TimeSpan.FromTicks(1000)));
        }

        // The store's side of the queue: the two events are taken off again.
        _drained.Clear();
        await _store.ReadAsync(_drained, 16, CancellationToken.None);
        foreach (var delivery in _drained)
        {
            // Acknowledged as the store does once the batch is durable; unacknowledged deliveries pile up as in-flight
            // entries that every read scans for reclaiming.
            await _store.AckAsync(delivery);
        }
        if (_frame.Stages.Count > 64)
        {
            _frame.Stages.Clear();
        }
    }
}
