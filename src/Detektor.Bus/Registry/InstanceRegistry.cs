using System.Collections.Concurrent;
using System.Globalization;
using Detektor.Bus.Redis;
using Detektor.Core;
using Detektor.Core.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.Registry;

/// <summary>What a running Detektor process says about itself when it registers for discovery.</summary>
/// <param name="Id">The instance id (<see cref="ServiceIdentity.InstanceId"/>, host-pid).</param>
/// <param name="Service">The service name (detektor, detektor-capture, …).</param>
/// <param name="Roles">Its roles (capture, process, store, api).</param>
/// <param name="Url">Where its HTTP endpoints answer (/health, /metrics), as other hosts reach it.</param>
/// <param name="Version">The program version.</param>
public sealed record InstanceRegistration(string Id, string Service, IReadOnlyList<string> Roles, string Url, string Version);

/// <summary>A registered instance, with registration and last heartbeat times (the registry's clock).</summary>
public sealed record InstanceInfo(
    string Id, string Service, IReadOnlyList<string> Roles, string Url, string Version, DateTimeOffset RegisteredAt, DateTimeOffset LastHeartbeat);

/// <summary>
/// Discovery: every running Detektor process registers (address, roles, version) with a TTL that its heartbeats renew;
/// an instance that stops heartbeating disappears after the TTL. Backs <c>detektor cluster status</c>,
/// <c>detektor health --all</c> and <c>GET /api/v1/discovery/prometheus</c>.
/// </summary>
public interface IInstanceRegistry
{
    TimeSpan Ttl { get; }

    ValueTask RegisterAsync(InstanceRegistration registration, CancellationToken cancellationToken = default);

    /// <summary>Renews the TTL; false when the entry had expired (the caller registers again).</summary>
    ValueTask<bool> HeartbeatAsync(string id, CancellationToken cancellationToken = default);

    ValueTask UnregisterAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>The live instances, ordered by id.</summary>
    ValueTask<IReadOnlyList<InstanceInfo>> ListAsync(CancellationToken cancellationToken = default);
}

/// <summary>The registry of one process (in-process bus: the process is the whole installation).</summary>
public sealed class InProcessInstanceRegistry(IOptions<RegistryOptions> options, TimeProvider time) : IInstanceRegistry
{
    private readonly ConcurrentDictionary<string, (InstanceInfo Info, DateTimeOffset Expires)> _entries = new(StringComparer.Ordinal);

    public TimeSpan Ttl { get; } = TimeSpan.FromSeconds(options.Value.TtlSeconds);

    public ValueTask RegisterAsync(InstanceRegistration registration, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var info = new InstanceInfo(registration.Id, registration.Service, registration.Roles, registration.Url, registration.Version, now, now);
        _entries[registration.Id] = (info, now + Ttl);
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> HeartbeatAsync(string id, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        if (!_entries.TryGetValue(id, out var entry) || entry.Expires <= now)
        {
            _entries.TryRemove(id, out _);
            return ValueTask.FromResult(false);
        }

        _entries[id] = (entry.Info with { LastHeartbeat = now }, now + Ttl);
        return ValueTask.FromResult(true);
    }

    public ValueTask UnregisterAsync(string id, CancellationToken cancellationToken = default)
    {
        _entries.TryRemove(id, out _);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<InstanceInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        IReadOnlyList<InstanceInfo> live = [.. _entries.Values.Where(e => e.Expires > now).Select(e => e.Info).OrderBy(i => i.Id, StringComparer.Ordinal)];
        return ValueTask.FromResult(live);
    }
}

/// <summary>
/// The registry in Redis, shared by every process: a hash per instance with a TTL (<c>{prefix}instance:{id}</c>) that
/// heartbeats renew, and a sorted set of ids by expiry (<c>{prefix}instances</c>) for listing. Times are Redis server
/// time.
/// </summary>
public sealed class RedisInstanceRegistry(RedisConnection connection, IOptions<RedisBusOptions> redisOptions, IOptions<RegistryOptions> options)
    : IInstanceRegistry
{
    // KEYS: instance hash, index zset. ARGV: id, service, roles, url, version, ttl ms.
    private const string RegisterScript = RegistryScripts.Now + "\n" + """
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'id', ARGV[1], 'service', ARGV[2], 'roles', ARGV[3], 'url', ARGV[4], 'version', ARGV[5],
          'registered_at', now, 'last_heartbeat', now, 'ttl_ms', ARGV[6])
        redis.call('PEXPIRE', KEYS[1], ARGV[6])
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[1])
        return 1
        """;

    // KEYS: instance hash, index zset. ARGV: id.
    private const string HeartbeatScript = RegistryScripts.Now + "\n" + """
        local ttl = redis.call('HGET', KEYS[1], 'ttl_ms')
        if not ttl then redis.call('ZREM', KEYS[2], ARGV[1]); return 0 end
        redis.call('HSET', KEYS[1], 'last_heartbeat', now)
        redis.call('PEXPIRE', KEYS[1], ttl)
        redis.call('ZADD', KEYS[2], now + tonumber(ttl), ARGV[1])
        return 1
        """;

    private readonly string _prefix = redisOptions.Value.KeyPrefix + "instance:";
    private readonly string _index = redisOptions.Value.KeyPrefix + "instances";

    public TimeSpan Ttl { get; } = TimeSpan.FromSeconds(options.Value.TtlSeconds);

    public async ValueTask RegisterAsync(InstanceRegistration registration, CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync();
        await db.ScriptEvaluateAsync(
            RegisterScript,
            [_prefix + registration.Id, _index],
            [registration.Id, registration.Service, string.Join(',', registration.Roles), registration.Url, registration.Version, (long)Ttl.TotalMilliseconds])
            .WaitAsync(cancellationToken);
    }

    public async ValueTask<bool> HeartbeatAsync(string id, CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync();
        return (long)await db.ScriptEvaluateAsync(HeartbeatScript, [_prefix + id, _index], [id]).WaitAsync(cancellationToken) == 1;
    }

    public async ValueTask UnregisterAsync(string id, CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync();
        var transaction = db.CreateTransaction();
        _ = transaction.KeyDeleteAsync(_prefix + id);
        _ = transaction.SortedSetRemoveAsync(_index, id);
        await transaction.ExecuteAsync().WaitAsync(cancellationToken);
    }

    public async ValueTask<IReadOnlyList<InstanceInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync();
        var list = new List<InstanceInfo>();
        foreach (var map in await RegistryScripts.ListHashesAsync(db, _index, _prefix, cancellationToken))
        {
            list.Add(new InstanceInfo(
                map["id"], map["service"], map["roles"].Split(',', StringSplitOptions.RemoveEmptyEntries), map["url"], map["version"],
                FromUnixMs(map["registered_at"]), FromUnixMs(map["last_heartbeat"])));
        }

        return [.. list.OrderBy(i => i.Id, StringComparer.Ordinal)];
    }

    private static DateTimeOffset FromUnixMs(string value) => DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(value, CultureInfo.InvariantCulture));
}

/// <summary><c>Detektor:Discovery</c>: how this instance registers itself.</summary>
public sealed class DiscoveryOptions
{
    public const string SectionName = "Detektor:Discovery";

    /// <summary>
    /// The URL other hosts reach this instance at (e.g. <c>http://10.0.0.7:8080</c>; in Kubernetes the pod IP). Empty: the
    /// first address Detektor listens on, with a wildcard host (0.0.0.0, [::], +, *) replaced by the host name.
    /// </summary>
    public string? AdvertiseUrl { get; set; }
}

public sealed class DiscoveryOptionsValidator : IValidateOptions<DiscoveryOptions>
{
    public ValidateOptionsResult Validate(string? name, DiscoveryOptions options) =>
        string.IsNullOrEmpty(options.AdvertiseUrl)
        || (Uri.TryCreate(options.AdvertiseUrl, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{DiscoveryOptions.SectionName}:{nameof(DiscoveryOptions.AdvertiseUrl)}: '{options.AdvertiseUrl}' is not an absolute http(s) URL; allowed e.g. http://10.0.0.7:8080.");
}

public static class InstanceRegistryExtensions
{
    /// <summary>The instance registry of the configured transport: Redis (shared) or in process.</summary>
    public static IHostApplicationBuilder AddInstanceRegistry(this IHostApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddOptions<DiscoveryOptions>().BindConfiguration(DiscoveryOptions.SectionName).ValidateKeyed(DiscoveryOptions.SectionName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DiscoveryOptions>, DiscoveryOptionsValidator>());
        if (BusServiceCollectionExtensions.IsRedis(builder.Configuration))
        {
            builder.Services.TryAddSingleton<IInstanceRegistry, RedisInstanceRegistry>();
        }
        else
        {
            builder.Services.TryAddSingleton<IInstanceRegistry, InProcessInstanceRegistry>();
        }

        return builder;
    }
}
