using Detektor.Bus;
using Detektor.Bus.Abstractions;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Detection.Detectors;
using Detektor.Processing;
using Detektor.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Detektor.Detection.Tests.Processors;

/// <summary>
/// The process role for real: the in-process bus, <see cref="Processing.Pipeline.FrameProcessingWorker"/> and the
/// detection chain as DetektorApp registers it. Tests publish frames and read back every result and lifecycle event.
/// </summary>
public sealed class PipelineHost : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly IBusSubscription<FrameResult> _results;
    private readonly IBusSubscription<FrameEvent> _lifecycle;
    private readonly FrameIdGenerator _ids = new(TimeProvider.System);
    private bool _stopped;

    public PipelineHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });

        // Load shedding acts on how long frames waited, which depends on how busy the machine is: a test that asserts
        // each frame's outcome would see frames shed on a slow CI box. Only the shedding tests turn it on.
        settings.TryAdd("Detektor:Detection:LoadShedding:Enabled", "false");
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddFakeLogging();
        builder.Services.AddSingleton(new ServiceIdentity("detektor-test"));
        builder.AddInProcessBus();
        builder.AddFrameProcessing();
        builder.AddDetectionProcessors();
        _host = builder.Build();
        var bus = _host.Services.GetRequiredService<IFrameBus>();
        _results = bus.Subscribe(Topics.Results, "test", "results");
        _lifecycle = bus.Subscribe(Topics.Lifecycle, "test", "lifecycle");
    }

    public IServiceProvider Services => _host.Services;

    public FakeLogCollector Logs => _host.Services.GetFakeLogCollector();

    public List<FrameResult> Results { get; } = [];

    public List<FrameEvent> Events { get; } = [];

    public Task StartAsync() => _host.StartAsync();

    public Task WhenDetectorsLoaded => _host.Services.GetRequiredService<DetectorRuntime>().WhenLoaded;

    /// <summary>Publishes one frame with pooled pixels, as capture would.</summary>
    public async Task PublishAsync(string camera, long sequence, DateTimeOffset captureTime, double? motionScore, byte[] rgb24, int width, int height)
    {
        var pixels = FrameBufferPool.Shared.Rent(rgb24.Length);
        rgb24.CopyTo(pixels.Span);
        var metadata = new FrameMetadata
        {
            FrameId = _ids.Next(camera, sequence),
            CameraId = camera,
            CaptureTime = captureTime,
            Width = width,
            Height = height,
            SizeBytes = rgb24.Length,
            Sequence = sequence,
            MotionScore = motionScore,
        };
        await _host.Services.GetRequiredService<IFrameBus>().PublishAsync(Topics.Frames, new FrameMessage(metadata, pixels));
    }

    /// <summary>Reads results (and the lifecycle events so far) until <paramref name="count"/> results have arrived.</summary>
    public async Task<List<FrameResult>> WaitForResultsAsync(int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var batch = new List<BusDelivery<FrameResult>>();
        while (Results.Count < count)
        {
            batch.Clear();
            await _results.ReadAsync(batch, 64, timeout.Token);
            foreach (var delivery in batch)
            {
                Results.Add(delivery.Message);
                await _results.AckAsync(delivery);
            }
        }

        // Lifecycle events are recorded before the result is published: everything up to here is already queued.
        var events = new List<BusDelivery<FrameEvent>>();
        using var drain = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        try
        {
            while (true)
            {
                events.Clear();
                await _lifecycle.ReadAsync(events, 256, drain.Token);
                foreach (var delivery in events)
                {
                    Events.Add(delivery.Message);
                    await _lifecycle.AckAsync(delivery);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return Results;
    }

    /// <summary>Stops the host gracefully, then reads the results published while it stopped (the tracker's closing events).</summary>
    public async Task<List<FrameResult>> StopAndReadResultsAsync()
    {
        await _host.StopAsync();
        _stopped = true;
        var late = new List<FrameResult>();
        var batch = new List<BusDelivery<FrameResult>>();
        while (true)
        {
            batch.Clear();
            using var idle = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                await _results.ReadAsync(batch, 64, idle.Token);
            }
            catch (OperationCanceledException)
            {
                return late;
            }

            foreach (var delivery in batch)
            {
                late.Add(delivery.Message);
                await _results.AckAsync(delivery);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _results.DisposeAsync();
        await _lifecycle.DisposeAsync();
        if (!_stopped)
        {
            await _host.StopAsync();
        }

        _host.Dispose();
    }

    public static byte[] Gray(int width, int height) => Enumerable.Repeat((byte)128, width * height * 3).ToArray();

    public static string ClosedPortUrl() => $"http://127.0.0.1:{FreePort.Next()}/";
}
