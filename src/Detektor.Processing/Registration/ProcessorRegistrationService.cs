using Detektor.Core.Hosting.Supervision;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Registry;
using Detektor.Bus.Routing;
using Detektor.Core;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Processing.Registration;

/// <summary>The capabilities of this process's processor chain (what its frames subscription also reads).</summary>
public sealed class ProcessorCapabilities(IEnumerable<FrameProcessor> processors) : ILocalCapabilities
{
    public IReadOnlyList<string> Capabilities { get; } =
        [.. processors.SelectMany(p => p.Capabilities).Where(Topics.IsCapabilityName).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
}

/// <summary>
/// Announces this process role in the processor registry: capabilities, capacity (<see cref="ProcessingOptions.Concurrency"/>)
/// and, every third of the TTL, its load. When its entry expired (Redis lost it, or the process stalled past the TTL) it
/// registers again; at a clean stop it unregisters. A killed process simply expires.
/// </summary>
public sealed partial class ProcessorRegistrationService(
    IProcessorRegistry registry,
    FrameProcessingWorker worker,
    IFrameBus bus,
    ILocalCapabilities capabilities,
    IOptions<ProcessingOptions> options,
    IOptions<RegistryOptions> registryOptions,
    ServiceIdentity service,
    TimeProvider time,
    ILogger<ProcessorRegistrationService> logger,
    LoopSupervisor? supervisor = null) : BackgroundService
{
    private readonly string _id = registryOptions.Value.ProcessorId ?? service.InstanceId;
    private readonly string _capabilityList = string.Join(",", capabilities.Capabilities);

    /// <summary>Runs the loop under the supervisor when there is one (<c>registry:processor</c>: restarted if it ever throws).</summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        supervisor is null ? RunLoopAsync(stoppingToken) : supervisor.RunAsync("registry:processor", (_, token) => RunLoopAsync(token), stoppingToken);

    private async Task RunLoopAsync(CancellationToken stoppingToken)
    {
        var registered = false;
        var period = registry.Ttl / 3;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!registered)
                {
                    await registry.RegisterAsync(
                        new ProcessorRegistration(_id, service.Name, "bus", capabilities.Capabilities, options.Value.Concurrency, options.Value.ConsumerGroup),
                        stoppingToken);
                    registered = true;
                    Log.Registered(logger, _id, _capabilityList, options.Value.Concurrency);
                }
                else if (!await registry.HeartbeatAsync(_id, Load(), stoppingToken))
                {
                    registered = false;
                    Log.Expired(logger, _id);
                    continue;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                registered = false;
                Log.Failed(logger, _id, ex.Message);
            }

            try
            {
                await Task.Delay(period, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            await registry.UnregisterAsync(_id, timeout.Token);
        }
        catch (Exception ex)
        {
            Log.Failed(logger, _id, ex.Message);
        }
    }

    /// <summary>Frames this process holds now (its consumers' pending deliveries) and frames it finished.</summary>
    private ProcessorLoad Load()
    {
        var prefix = service.InstanceId + "-";
        long inFlight = 0;
        foreach (var topic in bus.GetSnapshot().Topics)
        {
            if (!topic.Name.StartsWith(Topics.Frames.Name, StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var group in topic.Groups)
            {
                inFlight += group.Consumers.Where(c => c.Name.StartsWith(prefix, StringComparison.Ordinal)).Sum(c => c.Pending);
            }
        }

        return new ProcessorLoad(inFlight, worker.FramesHandled);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Processor {Id} registered: capabilities {Capabilities}, capacity {Capacity}")]
        public static partial void Registered(ILogger logger, string id, string capabilities, int capacity);

        [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Processor {Id}: registration had expired; registering again")]
        public static partial void Expired(ILogger logger, string id);

        [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Processor {Id}: registry not reachable ({Error}); retrying")]
        public static partial void Failed(ILogger logger, string id, string error);
    }
}
