using Detektor.Bus.Abstractions;
using Detektor.Bus.Backpressure;
using Detektor.Bus.Lifecycle;
using Detektor.Capture.Cameras;
using Detektor.Capture.Telemetry;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Capture;

/// <summary>The capture role: one <see cref="CameraWorker"/> per enabled camera (or the demo camera when none is configured).</summary>
public sealed class CaptureService : BackgroundService
{
    public const string DemoCameraName = "demo";

    private readonly CaptureOptions _options;
    private readonly CameraRegistry _registry;
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;

    public CaptureService(IOptions<CaptureOptions> options, CameraRegistry registry, IServiceProvider services, TimeProvider time, ILoggerFactory loggers)
    {
        _options = options.Value;
        _registry = registry;
        _services = services;
        _time = time;
        _loggers = loggers;
        foreach (var camera in EffectiveCameras(_options))
        {
            _registry.Add(new CameraStatus(camera, time));
        }
    }

    /// <summary>The cameras that run: the configured enabled ones, or the demo camera when none is configured.</summary>
    public static IReadOnlyList<CameraOptions> EffectiveCameras(CaptureOptions options)
    {
        var configured = options.AllConfigured().Select(c => c.Camera).ToList();
        if (configured.Count == 0)
        {
            return string.IsNullOrWhiteSpace(options.DemoUrl)
                ? []
                : [new CameraOptions { Name = DemoCameraName, Url = options.DemoUrl }];
        }

        return [.. configured.Where(c => c.Enabled)];
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var logger = _loggers.CreateLogger<CameraWorker>();
        var workers = _registry.All.Select(status => new CameraWorker(
            status,
            _options,
            Get<IFrameBus>(),
            Get<ILifecycleRecorder>(),
            Get<FrameIdGenerator>(),
            Get<FrameBufferPool>(),
            Get<CaptureTelemetry>(),
            Get<ServiceIdentity>(),
            _time,
            logger,
            _services.GetService(typeof(IBackpressureGate)) as IBackpressureGate).RunAsync(stoppingToken));
        return Task.WhenAll(workers);
    }

    private T Get<T>()
        where T : notnull => (T)(_services.GetService(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not registered."));
}
