using Detektor.Bus.Lifecycle;
using Detektor.Core.Configuration;
using Detektor.Detection.Detectors;
using Detektor.Detection.Gpu;
using Detektor.Detection.Processors;
using Detektor.Detection.Telemetry;
using Detektor.Detection.Tracking;
using Detektor.Processing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Detection;

public static class DetectionServiceCollectionExtensions
{
    /// <summary>
    /// Detection options (validated at start), the detectors (models pulled and opened in the background), GPU metrics,
    /// and the health checks <c>detector:objects</c>, <c>detector:faces</c> and <c>gpu</c>. Used by the process role and
    /// by the inference API.
    /// </summary>
    public static IHostApplicationBuilder AddDetectionRuntime(this IHostApplicationBuilder builder)
    {
        builder.AddDetectionOptions();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DetectionOptions>, DetectionOptionsValidator>());
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton(sp => new GpuMonitor(
            sp.GetRequiredService<TimeProvider>(), TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<DetectionOptions>>().Value.GpuPollSeconds)));
        builder.Services.TryAddSingleton<DetectionTelemetry>();
        builder.Services.TryAddSingleton<SnapshotStore>();
        if (builder.Services.Any(d => d.ServiceType == typeof(DetectorRuntime)))
        {
            return builder;
        }

        builder.Services.AddSingleton<DetectorRuntime>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DetectorRuntime>());
        builder.Services.AddHostedService<GpuStartupLog>();
        builder.Services.AddHealthChecks()
            .Add(new HealthCheckRegistration("detector:objects", sp => new DetectorHealthCheck(sp.GetRequiredService<DetectorRuntime>(), DetectorRuntime.ObjectsName), null, ["detection"]))
            .Add(new HealthCheckRegistration("detector:faces", sp => new DetectorHealthCheck(sp.GetRequiredService<DetectorRuntime>(), DetectorRuntime.FacesName), null, ["detection"]))
            .Add(new HealthCheckRegistration(GpuHealthCheck.Name, sp => ActivatorUtilities.CreateInstance<GpuHealthCheck>(sp), null, ["gpu"]));
        return builder;
    }

    /// <summary>
    /// The capture role's share of detection: its gates (<see cref="DetectionCaptureGate"/>), when detection is enabled and
    /// <c>Detektor:Detection:GateAtCapture</c> is true (the defaults). Reads the same <c>Detektor:Detection</c> keys as the
    /// process role, checked by their ranges only (the model files need not exist where capture runs).
    /// </summary>
    public static IHostApplicationBuilder AddDetectionCaptureGate(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(DetectionOptions.SectionName);
        if (!section.GetValue(nameof(DetectionOptions.Enabled), true) || !section.GetValue(nameof(DetectionOptions.GateAtCapture), true))
        {
            return builder;
        }

        builder.AddDetectionOptions();
        builder.Services.TryAddSingleton<ICaptureGate, DetectionCaptureGate>();
        return builder;
    }

    /// <summary>Binds <see cref="DetectionOptions"/> once (binding twice would append list items twice), validated by range at start.</summary>
    private static void AddDetectionOptions(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(DetectionOptionsBound)))
        {
            return;
        }

        builder.Services.AddSingleton<DetectionOptionsBound>();
        builder.Services.AddOptions<DetectionOptions>().BindConfiguration(DetectionOptions.SectionName).ValidateKeyed(DetectionOptions.SectionName);
    }

    /// <summary>Marks a service collection in which <see cref="DetectionOptions"/> are bound.</summary>
    private sealed class DetectionOptionsBound;

    /// <summary>
    /// Adds the detection chain to the process role, in order: motion gate, detect fps, load shed, objects, faces, tracker (nothing
    /// when <c>Detektor:Detection:Enabled</c> is false; faces only when <c>FacesEnabled</c>; the tracker only when
    /// <c>Tracking:Enabled</c>).
    /// </summary>
    public static IHostApplicationBuilder AddDetectionProcessors(this IHostApplicationBuilder builder)
    {
        builder.AddDetectionRuntime();
        var section = builder.Configuration.GetSection(DetectionOptions.SectionName);
        if (!section.GetValue(nameof(DetectionOptions.Enabled), true))
        {
            return builder;
        }

        builder.AddFrameProcessor<MotionGateProcessor>();
        builder.AddFrameProcessor<DetectFpsProcessor>();
        if (section.GetSection(nameof(DetectionOptions.LoadShedding)).GetValue(nameof(Shedding.LoadSheddingOptions.Enabled), true))
        {
            builder.AddFrameProcessor<Shedding.LoadShedProcessor>();
        }

        builder.AddFrameProcessor<ObjectDetectionProcessor>();
        if (section.GetValue(nameof(DetectionOptions.FacesEnabled), true))
        {
            builder.AddFrameProcessor<FaceDetectionProcessor>();
        }

        if (section.GetSection(nameof(DetectionOptions.Tracking)).GetValue(nameof(TrackingOptions.Enabled), true))
        {
            builder.AddFrameProcessor<TrackerProcessor>();
        }

        return builder;
    }

    /// <summary>Says once at start whether GPU metrics are there.</summary>
    private sealed class GpuStartupLog(GpuMonitor gpu, Microsoft.Extensions.Logging.ILogger<GpuMonitor> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            Log.GpuState(logger, gpu.Status);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
