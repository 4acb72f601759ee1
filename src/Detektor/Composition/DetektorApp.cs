using System.Globalization;
using Detektor.Api;
using Detektor.Api.Discovery;
using Detektor.Bus;
using Detektor.Bus.Registry;
using Detektor.Capture;
using Detektor.Core.Configuration;
using Detektor.Core.Resilience;
using Detektor.Detection;
using Detektor.Hosting;
using Detektor.Hosting.Health;
using Detektor.Hosting.Systemd;
using Detektor.Processing;
using Detektor.Processing.Processors;
using Detektor.Storage;
using Detektor.Web;
using Detektor.Web.Security;
using Microsoft.Extensions.Options;

namespace Detektor.Composition;

/// <summary>
/// Composes a Detektor process from its roles. Configuration, lowest to highest precedence: built-in defaults,
/// <c>appsettings.json</c> in the working directory, <c>--config</c> files, environment variables
/// (<c>Detektor__Cameras__0__Name</c>), command-line options.
/// </summary>
public static class DetektorApp
{
    /// <summary>
    /// The host's defaults would reload appsettings.json of the working directory on change, through a recursive file
    /// watcher on that directory — the data directory under systemd and the load test, so every SQLite write, journal
    /// segment and snapshot woke the watcher. Detektor's configuration is read at start (docs/configuration.md).
    /// </summary>
    internal const string NoConfigWatch = "--hostBuilder:reloadConfigOnChange=false";

    /// <summary>Builds the application; <paramref name="configure"/> lets tests add services (e.g. an in-memory exporter).</summary>
    public static WebApplication Build(RunSettings settings, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [NoConfigWatch],
            ContentRootPath = Directory.GetCurrentDirectory(),
            ApplicationName = "detektor",
        });

        AddConfiguration(builder.Configuration, settings);
        builder.WebHost.UseUrls(settings.Urls);

        var roles = settings.Roles;
        if (roles != Roles.All && !BusServiceCollectionExtensions.IsRedis(builder.Configuration))
        {
            throw new NotSupportedException(
                "--roles: running a subset of roles needs the distributed bus; add --redis HOST:PORT (or set Detektor:Bus:Transport=redis and Detektor:Bus:Redis=HOST:PORT).");
        }

        builder.AddServiceDefaults(RoleNames.ServiceName(roles));
        builder.Services.AddSystemdNotify();
        builder.Services.AddHealthMetrics();
        builder.Services.AddCircuitBreakers(); // every role: /api/v1/bus lists this process's breakers
        builder.AddFrameBus();
        builder.AddInstanceRegistry();
        IReadOnlyList<string> roleNames = [.. RoleNames.All.Where((_, i) => roles.HasFlag((Roles)(1 << i)))];
        builder.Services.AddHostedService(sp => ActivatorUtilities.CreateInstance<InstanceRegistrationService>(sp, roleNames));
        builder.Services.AddOptions<ConsulOptions>().BindConfiguration(ConsulOptions.SectionName).ValidateKeyed(ConsulOptions.SectionName);
        builder.Services.AddSingleton<IValidateOptions<ConsulOptions>, ConsulOptionsValidator>();
        if (builder.Configuration.GetSection(ConsulOptions.SectionName).Get<ConsulOptions>() is { Enabled: true })
        {
            builder.Services.AddHostedService(sp => ActivatorUtilities.CreateInstance<ConsulRegistrationService>(sp, roleNames));
        }

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
            builder.AddDetectionProcessors();
            if (builder.Configuration.GetValue<int>(SimulatedWorkProcessor.ConfigurationKey) is > 0 and var workMs)
            {
                builder.Services.AddSingleton(sp => new SimulatedWorkProcessor(TimeSpan.FromMilliseconds(workMs), sp.GetRequiredService<TimeProvider>()));
                builder.AddFrameProcessor<SimulatedWorkProcessor>();
            }

            builder.AddTestHookProcessors();
        }

        if (roles.HasFlag(Roles.Capture))
        {
            builder.AddCapture();
            builder.AddDetectionCaptureGate();
        }
        else
        {
            builder.AddCameraConfiguration();
        }

        if (roles.HasFlag(Roles.Api))
        {
            builder.AddDetectionRuntime();
            builder.AddDetektorApi();
            builder.AddDetektorWeb();
            builder.AddDetektorSecurity();
        }

        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        if (roles.HasFlag(Roles.Api))
        {
            app.UseDetektorSecurity();
            app.MapDetektorApi();
            app.MapDiscovery();
            app.MapDetektorWeb();
        }

        return app;
    }

    /// <summary>Layers <c>--config</c> files, environment variables and command-line settings (used by every command).</summary>
    public static void AddConfiguration(IConfigurationBuilder configuration, RunSettings settings)
    {
        foreach (var file in settings.ConfigFiles)
        {
            AddConfigFile(configuration, file);
        }

        configuration.AddEnvironmentVariables();
        configuration.AddInMemoryCollection(CommandLineSettings(settings));
    }

    /// <summary>Adds a <c>--config</c> file: JSON (<c>.json</c>) or YAML (<c>.yaml</c>, <c>.yml</c>).</summary>
    public static void AddConfigFile(IConfigurationBuilder configuration, string file)
    {
        var path = Path.GetFullPath(file);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"--config: the file '{path}' does not exist.", path);
        }

        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".json":
                configuration.AddJsonFile(path, optional: false, reloadOnChange: false);
                break;
            case ".yaml" or ".yml":
                configuration.AddYamlFile(path, optional: false, reloadOnChange: false);
                break;
            default:
                throw new NotSupportedException($"--config: '{file}' is neither JSON nor YAML; use a .json, .yaml or .yml file.");
        }
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
