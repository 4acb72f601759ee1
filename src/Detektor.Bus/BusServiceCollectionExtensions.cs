using Detektor.Core.Configuration;
using Detektor.Bus.Abstractions;
using Detektor.Bus.InProcess;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Telemetry;
using Detektor.Core.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Detektor.Bus;

public static class BusServiceCollectionExtensions
{
    /// <summary>Registers the in-process bus, its options (validated at start), telemetry and the lifecycle recorder.</summary>
    public static IHostApplicationBuilder AddInProcessBus(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<BusOptions>().BindConfiguration(BusOptions.SectionName).ValidateKeyed(BusOptions.SectionName);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<BusTelemetry>();
        builder.Services.TryAddSingleton<InProcessFrameBus>();
        builder.Services.TryAddSingleton<IFrameBus>(sp => sp.GetRequiredService<InProcessFrameBus>());
        builder.Services.TryAddSingleton<ILifecycleRecorder, BusLifecycleRecorder>();
        var health = builder.Services.AddHealthChecks();
        foreach (var topic in new[] { Topics.Frames.Name, Topics.Results.Name, Topics.Lifecycle.Name })
        {
            health.Add(new HealthCheckRegistration(
                $"queue:{topic}", sp => new BusHealthCheck(sp.GetRequiredService<IFrameBus>(), topic), failureStatus: null, tags: [HealthTags.Ready]));
        }

        return builder;
    }
}
