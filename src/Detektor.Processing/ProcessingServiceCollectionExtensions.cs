using Detektor.Bus.Routing;
using Detektor.Core.Configuration;
using Detektor.Core.Resilience;
using Detektor.Processing.Pipeline;
using Detektor.Processing.Registration;
using Detektor.Processing.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Detektor.Processing;

public static class ProcessingServiceCollectionExtensions
{
    /// <summary>Runs the process role: the pipeline worker over the processors registered with <see cref="AddFrameProcessor{T}"/>.</summary>
    public static IHostApplicationBuilder AddFrameProcessing(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ProcessingOptions>().BindConfiguration(ProcessingOptions.SectionName).ValidateKeyed(ProcessingOptions.SectionName);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddCircuitBreakers();
        builder.Services.TryAddSingleton<ProcessorBreakers>();
        builder.Services.TryAddSingleton<ProcessingTelemetry>();
        builder.Services.TryAddSingleton<FrameProcessingWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<FrameProcessingWorker>());
        builder.Services.TryAddSingleton<ILocalCapabilities, ProcessorCapabilities>();
        builder.Services.AddHostedService<ProcessorRegistrationService>();
        return builder;
    }

    /// <summary>Adds a processor to the chain; processors run in the order they are added.</summary>
    public static IHostApplicationBuilder AddFrameProcessor<T>(this IHostApplicationBuilder builder)
        where T : FrameProcessor
    {
        builder.Services.TryAddSingleton<T>();
        builder.Services.AddSingleton<FrameProcessor>(sp => sp.GetRequiredService<T>());
        return builder;
    }
}
