using System.Diagnostics.Metrics;
using Detektor.Bus;
using Detektor.Bus.Abstractions;
using Detektor.Bus.InProcess;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Telemetry;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Hosting.Supervision;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Processing.Pipeline;
using Detektor.Processing.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Detektor.Processing.Tests.Pipeline;

/// <summary>A FrameProcessingWorker on a real in-process bus, fed frames by the test; collects events and results.</summary>
internal sealed class WorkerHarness : IAsyncDisposable
{
    private readonly ServiceProvider _meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly CancellationTokenSource _stop = new();
    private readonly IBusSubscription<FrameEvent> _events;
    private readonly IBusSubscription<FrameResult> _results;
    private readonly FrameIdGenerator _ids = new(TimeProvider.System, 9);
    private Task? _run;

    public WorkerHarness(ProcessingOptions options, params FrameProcessor[] processors)
        : this(options, null, processors)
    {
    }

    /// <summary>With <c>supervisor</c>, the consumers run under it (see <see cref="SupervisedWorkerTests"/>).</summary>
    public WorkerHarness(ProcessingOptions options, Func<IMeterFactory, LoopSupervisor>? supervisor, params FrameProcessor[] processors)
    {
        var meterFactory = _meters.GetRequiredService<IMeterFactory>();
        var service = new ServiceIdentity("test-process");
        BusTelemetry = new BusTelemetry(meterFactory);
        Bus = new InProcessFrameBus(Options.Create(new BusOptions()), BusTelemetry, service, TimeProvider.System);
        Recorder = new BusLifecycleRecorder(Bus, BusTelemetry);
        Sut = new FrameProcessingWorker(
            Bus, processors, Recorder, new ProcessingTelemetry(meterFactory), service, TimeProvider.System,
            Options.Create(options), NullLogger<FrameProcessingWorker>.Instance, Supervisor = supervisor?.Invoke(meterFactory));
        _events = Bus.Subscribe(Topics.Lifecycle, "test", "events");
        _results = Bus.Subscribe(Topics.Results, "test", "results");
    }

    public InProcessFrameBus Bus { get; }

    public LoopSupervisor? Supervisor { get; }

    public BusTelemetry BusTelemetry { get; }

    public ILifecycleRecorder Recorder { get; }

    public FrameProcessingWorker Sut { get; }

    public FrameBufferPool Pool { get; } = new();

    public async Task StartAsync()
    {
        await Sut.StartAsync(CancellationToken.None);
        _run = Task.CompletedTask;
    }

    public async Task<FrameMetadata> PublishFrameAsync(string camera = "cam", int size = 300)
    {
        var metadata = new FrameMetadata
        {
            FrameId = _ids.Next(camera, 1),
            CameraId = camera,
            CaptureTime = TimeProvider.System.GetUtcNow(),
            Width = 10,
            Height = 10,
            SizeBytes = size,
        };
        var pixels = Pool.Rent(size);
        pixels.Span.Fill(100);
        await Bus.PublishAsync(Topics.Frames, new FrameMessage(metadata, pixels));
        return metadata;
    }

    public async Task<FrameResult> NextResultAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var batch = new List<BusDelivery<FrameResult>>();
        await _results.ReadAsync(batch, 1, cts.Token);
        return batch[0].Message;
    }

    /// <summary>All lifecycle events recorded so far (waits briefly for stragglers).</summary>
    public async Task<List<FrameEvent>> DrainEventsAsync()
    {
        var all = new List<FrameEvent>();
        var batch = new List<BusDelivery<FrameEvent>>();
        while (true)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            try
            {
                batch.Clear();
                await _events.ReadAsync(batch, 1000, cts.Token);
                all.AddRange(batch.Select(d => d.Message));
            }
            catch (OperationCanceledException)
            {
                return all;
            }
        }
    }

    public async Task StopAsync()
    {
        if (_run is not null)
        {
            await Sut.StopAsync(CancellationToken.None);
            _run = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _events.DisposeAsync();
        await _results.DisposeAsync();
        _stop.Dispose();
        Sut.Dispose();
        await _meters.DisposeAsync();
    }
}
