using Detektor.Bus.Abstractions;
using Detektor.Bus.Backpressure;
using Detektor.Bus.Lifecycle;
using Detektor.Capture.Cameras;
using Detektor.Capture.Demo;
using Detektor.Capture.Telemetry;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Health;
using Detektor.Core.Hosting.Supervision;
using Detektor.Core.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Capture;

/// <summary>The cameras this process runs: the enabled configured ones, or the demo camera when none is configured.</summary>
public sealed class CameraSet
{
    public CameraSet(IOptions<CaptureOptions> options)
    {
        var o = options.Value;
        var configured = o.AllConfigured().Select(c => c.Camera).ToList();
        if (configured.Count > 0)
        {
            Cameras = [.. configured.Where(c => c.Enabled)];
        }
        else if (o.DemoCamera)
        {
            Demo = DemoCameraResolver.Resolve(o);
            Cameras = [new CameraOptions { Name = CaptureService.DemoCameraName, Url = Demo.Url, Loop = true }];
        }
        else
        {
            Cameras = [];
        }
    }

    public IReadOnlyList<CameraOptions> Cameras { get; }

    /// <summary>What the demo camera plays and why; null when cameras are configured (or the demo is off).</summary>
    public DemoCameraChoice? Demo { get; }
}

/// <summary>The capture role: one <see cref="CameraWorker"/> per camera of the <see cref="CameraSet"/>, each supervised.</summary>
public sealed class CaptureService : BackgroundService
{
    public const string DemoCameraName = "demo";

    private readonly CaptureOptions _options;
    private readonly CameraSet _cameras;
    private readonly CameraRegistry _registry;
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly ILogger<CameraWorker> _logger;

    public CaptureService(IOptions<CaptureOptions> options, CameraSet cameras, CameraRegistry registry, IServiceProvider services, TimeProvider time, ILogger<CameraWorker> logger)
    {
        _options = options.Value;
        _cameras = cameras;
        _registry = registry;
        _services = services;
        _time = time;
        _logger = logger;
        foreach (var camera in cameras.Cameras)
        {
            _registry.Add(new CameraStatus(camera, time));
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);

        // The workers are done: give the latest frames' buffers back to the pool.
        foreach (var camera in _registry.All)
        {
            camera.Dispose();
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_cameras.Demo is { } demo)
        {
            var note = SecretMasker.MaskSecrets(demo.Note);
            if (demo.FootageFound)
            {
                Log.DemoCamera(_logger, note);
            }
            else
            {
                Log.DemoCameraWithoutFootage(_logger, note);
            }
        }

        var statuses = _registry.All;
        var names = string.Join(", ", statuses.Select(s => $"{s.Name} ({s.MaskedUrl})"));
        Log.CaptureStarted(_logger, statuses.Count, names);
        return Task.WhenAll(statuses.Select(status => SuperviseAsync(status, stoppingToken)));
    }

    private async Task SuperviseAsync(CameraStatus status, CancellationToken stoppingToken)
    {
        // Let the host finish starting before the first ffmpeg is spawned.
        await Task.Yield();
        var worker = new CameraWorker(
            status,
            _options,
            _services.GetRequiredService<IFrameBus>(),
            _services.GetRequiredService<ILifecycleRecorder>(),
            _services.GetRequiredService<FrameIdGenerator>(),
            _services.GetRequiredService<FrameBufferPool>(),
            _services.GetRequiredService<CaptureTelemetry>(),
            _services.GetRequiredService<ServiceIdentity>(),
            _time,
            _logger,
            _services.GetService<IBackpressureGate>(),
            _services.GetService<ICaptureGate>());

        // The camera's health check lives as long as its loop (registered here when the host has a health registry).
        using var check = _services.GetService<HealthRegistry>()?.Register(
            CameraHealthCheck.NamePrefix + status.Name, new CameraHealthCheck(_registry, status.Name), CameraHealthCheck.Tag);
        if (_services.GetService<LoopSupervisor>() is { } supervisor)
        {
            await supervisor.RunAsync("camera:" + status.Name, (_, token) => worker.RunAsync(token), stoppingToken);
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await worker.RunAsync(stoppingToken);
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // A bug, not a camera failure (those are handled inside): keep the camera alive anyway.
                var error = SecretMasker.MaskSecrets($"{ex.GetType().Name}: {ex.Message}");
                Log.WorkerFailed(_logger, status.Name, error);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
