using Detektor.Bus.Abstractions;
using Detektor.Bus.Backpressure;
using Detektor.Bus.InProcess;
using Detektor.Bus.Leases;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Redis;
using Detektor.Bus.Registry;
using Detektor.Bus.Routing;
using Detektor.Bus.Telemetry;
using Detektor.Core.Buffers;
using Detektor.Core.Configuration;
using Detektor.Core.Health;
using Detektor.Core.Resilience;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Bus;

public static class BusServiceCollectionExtensions
{
    /// <summary>The bus named by <c>Detektor:Bus:Transport</c>: <see cref="AddRedisBus"/> for <c>redis</c>, else <see cref="AddInProcessBus"/>.</summary>
    public static IHostApplicationBuilder AddFrameBus(this IHostApplicationBuilder builder) =>
        IsRedis(builder.Configuration) ? builder.AddRedisBus() : builder.AddInProcessBus();

    /// <summary>True when configuration asks for the Redis transport.</summary>
    public static bool IsRedis(IConfiguration configuration) =>
        string.Equals(configuration[$"{BusOptions.SectionName}:{nameof(BusOptions.Transport)}"], BusOptions.RedisTransport, StringComparison.Ordinal);

    /// <summary>Registers the in-process bus, its options (validated at start), telemetry, lifecycle recorder, registry and breaker.</summary>
    public static IHostApplicationBuilder AddInProcessBus(this IHostApplicationBuilder builder)
    {
        builder.AddBusCommon();
        builder.Services.TryAddSingleton<InProcessFrameBus>();
        builder.Services.TryAddSingleton<IFrameBus>(sp => sp.GetRequiredService<InProcessFrameBus>());
        builder.Services.TryAddSingleton<IProcessorRegistry, InProcessProcessorRegistry>();
        return builder;
    }

    /// <summary>
    /// Registers the Redis Streams bus (<c>Detektor:Bus:Redis</c>), its registry and the <c>redis</c> readiness check.
    /// Nothing connects at registration: Redis may come up after the process.
    /// </summary>
    public static IHostApplicationBuilder AddRedisBus(this IHostApplicationBuilder builder)
    {
        builder.AddBusCommon();
        var section = builder.Configuration.GetSection(RedisBusOptions.SectionName);
        builder.Services.AddOptions<RedisBusOptions>()
            .BindConfiguration(RedisBusOptions.SectionName)
            .PostConfigure(o =>
            {
                // Detektor:Bus:Redis=host:port (the section's own value) is the short form of ...:Configuration.
                if (!string.IsNullOrWhiteSpace(section.Value) && section[nameof(RedisBusOptions.Configuration)] is null)
                {
                    o.Configuration = section.Value;
                }

                o.LifecycleSpill ??= new LifecycleSpillOptions();
                o.LifecycleSpill.Path ??= Path.Combine(builder.Configuration["Detektor:DataDir"] ?? "data", "lifecycle-spill");
            })
            .ValidateKeyed(RedisBusOptions.SectionName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisBusOptions>, RedisBusOptionsValidator>());
        builder.Services.TryAddSingleton<RedisConnection>();
        builder.Services.AddCircuitBreakers(); // the "redis" breaker around publishing
        if (builder.Configuration.GetValue<bool?>($"{LifecycleSpillOptions.SectionName}:{nameof(LifecycleSpillOptions.Enabled)}") != false)
        {
            builder.Services.TryAddSingleton(sp =>
            {
                var o = sp.GetRequiredService<IOptions<RedisBusOptions>>().Value.LifecycleSpill;
                return new LifecycleSpill(o.Path!, (long)o.MaxMegabytes * 1024 * 1024, o.WhenFull == LifecycleSpillOptions.DropWhenFull);
            });
        }

        builder.Services.TryAddSingleton<RedisFrameBus>();
        builder.Services.TryAddSingleton<IFrameBus>(sp => sp.GetRequiredService<RedisFrameBus>());
        builder.Services.TryAddSingleton<IProcessorRegistry, RedisProcessorRegistry>();
        builder.Services.AddHostedService<RedisBusStarter>();
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            "redis", sp => new RedisHealthCheck(sp.GetRequiredService<RedisConnection>()), failureStatus: null, tags: [HealthTags.Ready]));
        return builder;
    }

    private static void AddBusCommon(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<BusOptions>().BindConfiguration(BusOptions.SectionName).ValidateKeyed(BusOptions.SectionName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BusOptions>, BusOptionsValidator>());
        builder.Services.AddOptions<BackpressureOptions>().BindConfiguration(BackpressureOptions.SectionName).ValidateKeyed(BackpressureOptions.SectionName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BackpressureOptions>, BackpressureOptionsValidator>());
        builder.Services.AddOptions<RegistryOptions>().BindConfiguration(RegistryOptions.SectionName).ValidateKeyed(RegistryOptions.SectionName);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton(_ => new FrameBufferPool());
        builder.Services.TryAddSingleton<BusTelemetry>();
        builder.Services.TryAddSingleton<FrameRouter>();
        builder.Services.TryAddSingleton<ILifecycleRecorder, BusLifecycleRecorder>();
        builder.Services.TryAddSingleton<BackpressureGate>();
        builder.Services.TryAddSingleton<IBackpressureGate>(sp => sp.GetRequiredService<BackpressureGate>());
        builder.Services.AddCircuitBreakers(); // each external processor's breaker
        builder.Services.TryAddSingleton<FrameLeaseService>();
        var health = builder.Services.AddHealthChecks();
        foreach (var topic in new[] { Topics.Frames.Name, Topics.Results.Name, Topics.Lifecycle.Name })
        {
            health.Add(new HealthCheckRegistration(
                $"queue:{topic}",
                sp => new BusHealthCheck(sp.GetRequiredService<IFrameBus>(), topic, sp.GetRequiredService<IOptions<BackpressureOptions>>().Value),
                failureStatus: null,
                tags: [HealthTags.Ready]));
        }
    }

    /// <summary>Starts the Redis bus's monitor with the host (snapshot, trim accounting), before any message flows.</summary>
    /// <summary>Also registers the <c>lifecycle-spill</c> health check with the <see cref="HealthRegistry"/> when the spill is on.</summary>
    private sealed class RedisBusStarter(RedisFrameBus bus, HealthRegistry? health = null) : IHostedService
    {
        private IDisposable? _check;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _ = bus.GetSnapshot();
            if (bus.Spill is { } spill && health is not null)
            {
                _check = health.Register(LifecycleSpillHealthCheck.Name, new LifecycleSpillHealthCheck(spill), HealthTags.Ready);
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            _check?.Dispose();
            return Task.CompletedTask;
        }
    }
}

/// <summary>Checks what attributes cannot: routes name valid cameras and capabilities.</summary>
public sealed class BusOptionsValidator : IValidateOptions<BusOptions>
{
    public ValidateOptionsResult Validate(string? name, BusOptions options)
    {
        var failures = new List<string>();
        foreach (var (camera, capability) in options.Routes)
        {
            if (!Core.Frames.CameraId.IsValid(camera))
            {
                failures.Add($"{BusOptions.SectionName}:Routes:{camera}: '{camera}' is not a camera id ({Core.Frames.CameraId.Rule}).");
            }

            if (!Topics.IsCapabilityName(capability))
            {
                failures.Add($"{BusOptions.SectionName}:Routes:{camera}: '{capability}' is not a capability name ({Topics.CapabilityRule}).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The connection string must parse, and JPEG needs rgb24 frames (always true for capture today).</summary>
public sealed class RedisBusOptionsValidator : IValidateOptions<RedisBusOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisBusOptions options)
    {
        var failures = new List<string>();
        try
        {
            var parsed = StackExchange.Redis.ConfigurationOptions.Parse(options.Configuration ?? string.Empty);
            if (parsed.EndPoints.Count == 0)
            {
                failures.Add($"{RedisBusOptions.SectionName}:Configuration: names no endpoint; expected HOST:PORT, e.g. 127.0.0.1:6379.");
            }
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException)
        {
            failures.Add($"{RedisBusOptions.SectionName}:Configuration: cannot be parsed ({Core.Security.SecretMasker.MaskSecrets(ex.Message)}); expected HOST:PORT[,option=value...].");
        }

        var spill = options.LifecycleSpill;
        if (spill is not null)
        {
            if (spill.MaxMegabytes is < 1 or > 1_048_576)
            {
                failures.Add($"{LifecycleSpillOptions.SectionName}:MaxMegabytes: {spill.MaxMegabytes} is out of range; allowed 1 to 1048576.");
            }

            if (spill.WhenFull is not (LifecycleSpillOptions.WaitWhenFull or LifecycleSpillOptions.DropWhenFull))
            {
                failures.Add($"{LifecycleSpillOptions.SectionName}:WhenFull: '{spill.WhenFull}' is not allowed; use '{LifecycleSpillOptions.WaitWhenFull}' or '{LifecycleSpillOptions.DropWhenFull}'.");
            }

            if (spill.Enabled && string.IsNullOrWhiteSpace(spill.Path))
            {
                failures.Add($"{LifecycleSpillOptions.SectionName}:Path: is empty; name a directory (default {{Detektor:DataDir}}/lifecycle-spill).");
            }
            else if (spill.Path is not null && spill.Path.IndexOfAny(System.IO.Path.GetInvalidPathChars()) >= 0)
            {
                failures.Add($"{LifecycleSpillOptions.SectionName}:Path: '{spill.Path}' is not a valid path.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
