using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Detektor.Core.Resilience;

public static class ResilienceServiceCollectionExtensions
{
    /// <summary>The process's circuit breakers, with <c>Detektor:Resilience</c> and the processors' breaker policies (<c>Detektor:Processing:Processors</c>) bound and validated at start. Safe to call twice.</summary>
    public static IServiceCollection AddCircuitBreakers(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(CircuitBreakers)))
        {
            return services;
        }

        services.AddOptions<ResilienceOptions>().BindConfiguration(ResilienceOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ResilienceOptions>, ResilienceOptionsValidator>());
        services.AddOptions<ProcessorPoliciesOptions>().BindConfiguration(ProcessorPoliciesOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProcessorPoliciesOptions>, ProcessorPoliciesValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<ResilienceTelemetry>();
        services.AddSingleton<CircuitBreakers>();
        return services;
    }
}
