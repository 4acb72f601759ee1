using Detektor.Core.Hosting.Supervision;
using System.Net;
using Detektor.Bus.Registry;
using Detektor.Core;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Detektor.Composition;

/// <summary>
/// Registers this process in the instance registry once it listens (address, roles, version), heartbeats every third of
/// the TTL (registering again when the entry had expired, e.g. after Redis was away), and unregisters on a graceful stop.
/// A registry that cannot be reached is retried on the next beat; the process keeps working.
/// </summary>
internal sealed partial class InstanceRegistrationService(
    IInstanceRegistry registry,
    IServer server,
    IHostApplicationLifetime lifetime,
    ServiceIdentity identity,
    IOptions<DiscoveryOptions> options,
    TimeProvider time,
    ILogger<InstanceRegistrationService> logger,
    IReadOnlyList<string> roles,
    LoopSupervisor? supervisor = null) : BackgroundService
{
    private bool _registered;

    /// <summary>The URL to advertise: the configured one, else the first listening address with a wildcard host replaced by the host name.</summary>
    public static string AdvertisedUrl(string? configured, IEnumerable<string> addresses, string hostName)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured.TrimEnd('/');
        }

        var address = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            ?? addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The server listens on no address.");
        var uri = new Uri(address.Replace("://+", "://wildcard", StringComparison.Ordinal).Replace("://*", "://wildcard", StringComparison.Ordinal));
        var host = uri.Host is "wildcard" or "0.0.0.0" or "[::]" or "::" ? hostName : uri.Host;
        return new UriBuilder(uri.Scheme, host, uri.Port).Uri.ToString().TrimEnd('/');
    }

    /// <summary>Runs the loop under the supervisor when there is one (<c>registry:instance</c>: restarted if it ever throws).</summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        supervisor is null ? RunLoopAsync(stoppingToken) : supervisor.RunAsync("registry:instance", (_, token) => RunLoopAsync(token), stoppingToken);

    private async Task RunLoopAsync(CancellationToken stoppingToken)
    {
        if (!await HostLoops.WaitForStartAsync(lifetime, stoppingToken))
        {
            return;
        }

        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var registration = new InstanceRegistration(
            identity.InstanceId, identity.Name, roles, AdvertisedUrl(options.Value.AdvertiseUrl, addresses, Dns.GetHostName()), identity.Version);
        var roleList = string.Join(',', roles);
        using var timer = new PeriodicTimer(registry.Ttl / 3, time);
        do
        {
            try
            {
                if (!_registered || !await registry.HeartbeatAsync(registration.Id, stoppingToken))
                {
                    await registry.RegisterAsync(registration, stoppingToken);
                    _registered = true;
                    Log.Registered(logger, registration.Id, registration.Url, roleList);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _registered = false;
                Log.RegistryUnavailable(logger, ex.Message);
            }
        }
        while (await HostLoops.NextTickAsync(timer, stoppingToken));

        if (_registered)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                await registry.UnregisterAsync(registration.Id, timeout.Token);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.RegistryUnavailable(logger, ex.Message);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 9201, Level = LogLevel.Information, Message = "Instance {Id} registered for discovery at {Url} (roles {Roles})")]
        public static partial void Registered(ILogger logger, string id, string url, string roles);

        [LoggerMessage(EventId = 9202, Level = LogLevel.Warning, Message = "Instance registry unavailable, retrying on the next heartbeat: {Error}")]
        public static partial void RegistryUnavailable(ILogger logger, string error);
    }
}
