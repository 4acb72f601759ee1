using System.Globalization;
using Detektor.Api;
using Detektor.Bus;
using Detektor.Capture;
using Detektor.Hosting;
using Detektor.Processing;
using Detektor.Processing.Processors;
using Detektor.Storage;

namespace Detektor.Composition;

/// <summary>
/// Composes a Detektor process from its roles. Configuration, lowest to highest precedence: built-in defaults,
/// <c>appsettings.json</c> in the working directory, <c>--config</c> files, environment variables
/// (<c>Detektor__Cameras__0__Name</c>), command-line options.
/// </summary>
public static class DetektorApp
{
    /// <summary>Builds the application; <paramref name="configure"/> lets tests add services (e.g. an in-memory exporter).</summary>
    public static WebApplication Build(RunSettings settings, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = Directory.GetCurrentDirectory(),
            ApplicationName = "detektor",
        });

        foreach (var file in settings.ConfigFiles)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        }

        builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddInMemoryCollection(CommandLineSettings(settings));
        builder.WebHost.UseUrls(settings.Urls);

        var roles = settings.Roles;
        if (roles != Roles.All && !BusServiceCollectionExtensions.IsRedis(builder.Configuration))
        {
            throw new NotSupportedException(
                "--roles: running a subset of roles needs the distributed bus; add --redis HOST:PORT (or set Detektor:Bus:Transport=redis and Detektor:Bus:Redis=HOST:PORT).");
        }

        builder.AddServiceDefaults(RoleNames.ServiceName(roles));
        builder.AddFrameBus();

        // Hosted services stop in reverse order of registration: capture first, then processing (which drains the
        // frames queue), then the store (which drains results and lifecycle events). Nothing is left behind unrecorded.
        if (roles.HasFlag(Roles.Store))
        {
            builder.AddEventStoreWriter();
        }
        else if (roles.HasFlag(Roles.Api))
        {
            builder.AddEventStore();
        }

        if (roles.HasFlag(Roles.Process))
        {
            builder.AddFrameProcessing();
            builder.AddFrameProcessor<SampleProcessor>();
            if (builder.Configuration.GetValue<int>(SimulatedWorkProcessor.ConfigurationKey) is > 0 and var workMs)
            {
                builder.Services.AddSingleton(sp => new SimulatedWorkProcessor(TimeSpan.FromMilliseconds(workMs), sp.GetRequiredService<TimeProvider>()));
                builder.AddFrameProcessor<SimulatedWorkProcessor>();
            }
        }

        if (roles.HasFlag(Roles.Capture))
        {
            builder.AddCapture();
        }
        else
        {
            builder.AddCameraConfiguration();
        }

        if (roles.HasFlag(Roles.Api))
        {
            builder.AddDetektorApi();
        }

        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        if (roles.HasFlag(Roles.Api))
        {
            app.MapDetektorApi();
        }

        return app;
    }

    private static Dictionary<string, string?> CommandLineSettings(RunSettings settings)
    {
        var values = new Dictionary<string, string?>(settings.Settings, StringComparer.OrdinalIgnoreCase)
        {
            ["Detektor:DataDir"] = Path.GetFullPath(settings.DataDir),
        };
        if (!string.IsNullOrWhiteSpace(settings.Redis))
        {
            values[$"{BusOptions.SectionName}:{nameof(BusOptions.Transport)}"] = BusOptions.RedisTransport;
            values[$"{Bus.Redis.RedisBusOptions.SectionName}:{nameof(Bus.Redis.RedisBusOptions.Configuration)}"] = settings.Redis;
        }

        for (var i = 0; i < settings.Cameras.Count; i++)
        {
            var (name, url) = settings.Cameras[i];
            var prefix = string.Create(CultureInfo.InvariantCulture, $"{CaptureServiceCollectionExtensions.CommandLineCamerasSection}:{i}");
            values[prefix + ":Name"] = name;
            values[prefix + ":Url"] = url;
        }

        return values;
    }
}
