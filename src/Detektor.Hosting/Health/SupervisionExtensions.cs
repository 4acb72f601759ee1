using Detektor.Core.Health;
using Detektor.Core.Hosting.Supervision;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Hosting.Health;

public static class SupervisionExtensions
{
    /// <summary>
    /// The health registry (run-time checks, served by <see cref="RegistryHealthCheckService"/>), the loop supervisor with its
    /// options (<c>Detektor:Supervisor</c>, validated at start) and telemetry, and the <c>disk:data</c>, <c>memory</c> and <c>cpu</c> checks.
    /// </summary>
    public static IServiceCollection AddSupervision(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton<HealthRegistry>();
        services.Replace(ServiceDescriptor.Singleton<HealthCheckService, RegistryHealthCheckService>());
        services.AddOptions<SupervisorOptions>().BindConfiguration(SupervisorOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SupervisorOptions>, SupervisorOptionsValidator>());
        services.TryAddSingleton<SupervisorTelemetry>();
        services.TryAddSingleton<LoopSupervisor>();
        services.TryAddSingleton(CpuSources.Default);
        services.TryAddSingleton<CpuUsageSampler>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CpuUsageSampler.Service>());
        services.AddHealthChecks()
            .Add(new HealthCheckRegistration(
                DiskSpaceHealthCheck.Name,
                sp => new DiskSpaceHealthCheck(configuration["Detektor:DataDir"] ?? "data", sp.GetRequiredService<IOptions<HostingOptions>>()),
                null,
                [HealthTags.Ready]))
            .Add(new HealthCheckRegistration(
                MemoryHealthCheck.Name, sp => new MemoryHealthCheck(sp.GetRequiredService<IOptions<HostingOptions>>()), null, []))
            .Add(new HealthCheckRegistration(
                CpuHealthCheck.Name, sp => new CpuHealthCheck(sp.GetRequiredService<CpuUsageSampler>(), sp.GetRequiredService<IOptions<HostingOptions>>()), null, []));
        return services;
    }
}
