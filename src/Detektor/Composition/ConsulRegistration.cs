using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Detektor.Bus.Registry;
using Detektor.Core;
using Detektor.Core.Security;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Detektor.Composition;

/// <summary>
/// <c>Detektor:Discovery:Consul</c>: register this instance with a Consul agent (its HTTP API) as well as in Detektor's
/// own registry. Off while <see cref="Address"/> is empty.
/// </summary>
public sealed class ConsulOptions
{
    public const string SectionName = "Detektor:Discovery:Consul";

    /// <summary>The local Consul agent's HTTP address, e.g. <c>http://127.0.0.1:8500</c>. Empty (default): no Consul.</summary>
    public string? Address { get; set; }

    /// <summary>ACL token sent as <c>X-Consul-Token</c> (a secret: never logged). Empty: none.</summary>
    public string? Token { get; set; }

    /// <summary>The Consul service name. Empty (default): this process's service name (detektor, detektor-capture, …).</summary>
    public string? ServiceName { get; set; }

    /// <summary>How often Consul calls the instance's <c>/health</c>. Default 10 s.</summary>
    public int CheckIntervalSeconds { get; set; } = 10;

    /// <summary>Consul removes the instance after its check has been critical this long. Default 60 s.</summary>
    public int DeregisterAfterSeconds { get; set; } = 60;

    /// <summary>The registration is sent again this often (it survives a restarted agent). Default 60 s.</summary>
    public int RefreshSeconds { get; set; } = 60;

    public bool Enabled => !string.IsNullOrWhiteSpace(Address);
}

public sealed class ConsulOptionsValidator : IValidateOptions<ConsulOptions>
{
    public ValidateOptionsResult Validate(string? name, ConsulOptions options)
    {
        var errors = new List<string>();
        if (options.Enabled
            && !(Uri.TryCreate(options.Address, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
        {
            errors.Add($"{ConsulOptions.SectionName}:{nameof(ConsulOptions.Address)}: '{SecretMasker.MaskSecrets(options.Address!)}' is not an absolute http(s) URL; allowed e.g. http://127.0.0.1:8500.");
        }

        Range(errors, nameof(ConsulOptions.CheckIntervalSeconds), options.CheckIntervalSeconds, 1, 3600);
        Range(errors, nameof(ConsulOptions.DeregisterAfterSeconds), options.DeregisterAfterSeconds, 60, 86400);
        Range(errors, nameof(ConsulOptions.RefreshSeconds), options.RefreshSeconds, 5, 86400);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Range(List<string> errors, string key, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{ConsulOptions.SectionName}:{key}: {value} is out of range; allowed {min} to {max}."));
        }
    }
}

/// <summary>The two calls of Consul's agent HTTP API that Detektor makes: register a service, deregister it.</summary>
public sealed class ConsulAgentClient(HttpClient http, ConsulOptions options)
{
    /// <summary>The registration body: id, name, roles and version as tags and meta, address and port, an HTTP check on /health.</summary>
    public static JsonObject RegistrationBody(InstanceRegistration instance, string serviceName, ConsulOptions options)
    {
        var url = new Uri(instance.Url);
        var tags = new JsonArray([.. instance.Roles.Select(r => JsonValue.Create("role-" + r)), JsonValue.Create("version-" + instance.Version)]);
        return new JsonObject
        {
            ["ID"] = instance.Id,
            ["Name"] = serviceName,
            ["Tags"] = tags,
            ["Address"] = url.Host,
            ["Port"] = url.Port,
            ["Meta"] = new JsonObject
            {
                ["roles"] = string.Join(',', instance.Roles),
                ["version"] = instance.Version,
                ["url"] = instance.Url,
            },
            ["Check"] = new JsonObject
            {
                ["CheckID"] = instance.Id + ":health",
                ["Name"] = "Detektor /health",
                ["HTTP"] = instance.Url + "/health",
                ["Interval"] = string.Create(CultureInfo.InvariantCulture, $"{options.CheckIntervalSeconds}s"),
                ["Timeout"] = "5s",
                ["DeregisterCriticalServiceAfter"] = string.Create(CultureInfo.InvariantCulture, $"{options.DeregisterAfterSeconds}s"),
            },
        };
    }

    public async Task RegisterAsync(InstanceRegistration instance, string serviceName, CancellationToken cancellationToken)
    {
        using var request = Request("v1/agent/service/register?replace-existing-checks=true");
        request.Content = JsonContent.Create(RegistrationBody(instance, serviceName, options));
        await SendAsync(request, cancellationToken);
    }

    public async Task DeregisterAsync(string id, CancellationToken cancellationToken)
    {
        using var request = Request("v1/agent/service/deregister/" + Uri.EscapeDataString(id));
        await SendAsync(request, cancellationToken);
    }

    private HttpRequestMessage Request(string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, new Uri(new Uri(options.Address!.TrimEnd('/') + "/"), path));
        if (!string.IsNullOrEmpty(options.Token))
        {
            request.Headers.Add("X-Consul-Token", options.Token);
        }

        return request;
    }

    private async Task SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var response = await http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException(
                string.Create(CultureInfo.InvariantCulture, $"Consul answered {(int)response.StatusCode} {response.ReasonPhrase} to {request.RequestUri!.AbsolutePath}"),
                null,
                response.StatusCode);
        }
    }
}

/// <summary>
/// Registers this instance with the Consul agent once it listens, sends the registration again every
/// <see cref="ConsulOptions.RefreshSeconds"/> (and retries after a failure on the same beat), and deregisters on a graceful
/// stop. Consul checks <c>/health</c> itself. The token is never logged.
/// </summary>
internal sealed partial class ConsulRegistrationService(
    IServer server,
    IHostApplicationLifetime lifetime,
    ServiceIdentity identity,
    IOptions<ConsulOptions> consul,
    IOptions<DiscoveryOptions> discovery,
    TimeProvider time,
    ILogger<ConsulRegistrationService> logger,
    IReadOnlyList<string> roles) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var options = consul.Value;
        if (!await HostLoops.WaitForStartAsync(lifetime, stoppingToken))
        {
            return;
        }

        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var instance = new InstanceRegistration(
            identity.InstanceId, identity.Name, roles,
            InstanceRegistrationService.AdvertisedUrl(discovery.Value.AdvertiseUrl, addresses, Dns.GetHostName()), identity.Version);
        var serviceName = string.IsNullOrWhiteSpace(options.ServiceName) ? identity.Name : options.ServiceName;
        var agent = SecretMasker.MaskSecrets(options.Address!);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var client = new ConsulAgentClient(http, options);
        var registered = false;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.RefreshSeconds), time);
        do
        {
            try
            {
                await client.RegisterAsync(instance, serviceName, stoppingToken);
                if (!registered)
                {
                    Log.Registered(logger, instance.Id, serviceName, agent);
                }

                registered = true;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !stoppingToken.IsCancellationRequested)
            {
                registered = false;
                Log.Unavailable(logger, agent, SecretMasker.MaskSecrets(ex.Message));
            }
        }
        while (await HostLoops.NextTickAsync(timer, stoppingToken));

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await client.DeregisterAsync(instance.Id, timeout.Token);
            Log.Deregistered(logger, instance.Id, agent);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Log.Unavailable(logger, agent, SecretMasker.MaskSecrets(ex.Message));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 9211, Level = LogLevel.Information, Message = "Instance {Id} registered with Consul as {Service} at {Agent}")]
        public static partial void Registered(ILogger logger, string id, string service, string agent);

        [LoggerMessage(EventId = 9212, Level = LogLevel.Warning, Message = "Consul agent {Agent} unavailable, retrying on the next refresh: {Error}")]
        public static partial void Unavailable(ILogger logger, string agent, string error);

        [LoggerMessage(EventId = 9213, Level = LogLevel.Information, Message = "Instance {Id} deregistered from Consul at {Agent}")]
        public static partial void Deregistered(ILogger logger, string id, string agent);
    }
}
