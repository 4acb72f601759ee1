using Detektor.Capture.Cameras;
using Detektor.Capture.Telemetry;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Microsoft.Extensions.Configuration;
using Detektor.Core.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Capture;

public static class CaptureServiceCollectionExtensions
{
    /// <summary>Where <c>--camera NAME=URL</c> values are put in configuration.</summary>
    public const string CommandLineCamerasSection = "Detektor:CommandLineCameras";

    /// <summary>Camera configuration and status (also needed by the API role when it runs without capture).</summary>
    public static IHostApplicationBuilder AddCameraConfiguration(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CaptureOptions>()
            .BindConfiguration(CaptureOptions.SectionName)
            .Configure<IConfiguration>((o, config) =>
            {
                // Bound camera by camera: the binder silently skips a list item it cannot convert, which would turn
                // "Width: wide" into a missing camera (and the demo camera). Such errors are reported by validation.
                BindCameras(config.GetSection(CaptureOptions.CamerasSectionName), o.Cameras, o.ConfigurationErrors);
                BindCameras(config.GetSection(CommandLineCamerasSection), o.CommandLineCameras, o.ConfigurationErrors);
                o.DataDir ??= config["Detektor:DataDir"];
                o.ConfigurationErrors.AddRange(CaptureOptionsValidator.FindUnknownKeys(config, CommandLineCamerasSection));
            })
            .ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CaptureOptions>, CaptureOptionsValidator>());
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<CameraRegistry>();
        builder.Services.TryAddSingleton<CameraSet>();
        return builder;
    }

    private static void BindCameras(IConfigurationSection section, List<CameraOptions> cameras, List<string> errors)
    {
        foreach (var child in section.GetChildren())
        {
            var problems = CaptureOptionsValidator.FindUnconvertibleValues(child).ToList();
            var camera = new CameraOptions();
            if (problems.Count == 0)
            {
                child.Bind(camera);
            }
            else
            {
                // Keep what is readable so that validation reports only the real problems.
                camera.Name = child[nameof(CameraOptions.Name)] ?? string.Empty;
                camera.Url = child[nameof(CameraOptions.Url)] ?? string.Empty;
                camera.Enabled = false;
            }

            errors.AddRange(problems);
            cameras.Add(camera);
        }
    }

    /// <summary>Runs the capture role: every enabled camera is read and its frames published on the bus.</summary>
    public static IHostApplicationBuilder AddCapture(this IHostApplicationBuilder builder)
    {
        builder.AddCameraConfiguration();
        builder.Services.TryAddSingleton<FrameIdGenerator>();
        builder.Services.TryAddSingleton(_ => new FrameBufferPool());
        builder.Services.TryAddSingleton<CaptureTelemetry>();
        builder.Services.AddSingleton<CaptureService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CaptureService>());
        builder.Services.AddHealthChecks();
        builder.Services.AddSingleton<IConfigureOptions<HealthCheckServiceOptions>, CameraHealthCheckRegistrations>();
        return builder;
    }

    /// <summary>
    /// Registers health check <c>camera:{name}</c> for every camera that runs — only in hosts without a
    /// <see cref="HealthRegistry"/>; with one, <see cref="CaptureService"/> registers each camera's check while it runs.
    /// </summary>
    private sealed class CameraHealthCheckRegistrations(CameraSet cameras, IServiceProvider services) : IConfigureOptions<HealthCheckServiceOptions>
    {
        public void Configure(HealthCheckServiceOptions options)
        {
            if (services.GetService<HealthRegistry>() is not null)
            {
                return;
            }

            foreach (var camera in cameras.Cameras)
            {
                var name = camera.Name;
                options.Registrations.Add(new HealthCheckRegistration(
                    CameraHealthCheck.NamePrefix + name,
                    sp => new CameraHealthCheck(sp.GetRequiredService<CameraRegistry>(), name),
                    failureStatus: null,
                    tags: [CameraHealthCheck.Tag]));
            }
        }
    }
}
