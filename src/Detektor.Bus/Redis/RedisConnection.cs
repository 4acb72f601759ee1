using System.Net;
using Detektor.Core;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Detektor.Bus.Redis;

/// <summary>
/// The process's Redis connections: one shared multiplexer for everything that does not block, and a dedicated one per
/// subscription for its blocking <c>XREADGROUP</c> (a blocking command would stall a shared connection). Connecting never
/// fails the process: when Redis is down at start, connections keep retrying in the background and every call fails fast
/// until it is back (the callers retry; the <c>redis</c> health check reports it).
/// </summary>
public sealed class RedisConnection : IAsyncDisposable
{
    private readonly RedisBusOptions _options;
    private readonly string _clientName;
    private readonly Lazy<Task<ConnectionMultiplexer>> _shared;
    private int _disposed;

    public RedisConnection(IOptions<RedisBusOptions> options, ServiceIdentity service)
    {
        _options = options.Value;
        _clientName = Sanitize($"{service.Name}-{service.InstanceId}");
        var parsed = ConfigurationOptions.Parse(_options.Configuration);
        Endpoints = string.Join(",", parsed.EndPoints.Select(Format));
        _shared = new Lazy<Task<ConnectionMultiplexer>>(() => ConnectAsync(_clientName, _options.ConnectTimeoutMs + 5000));
    }

    /// <summary>Where Redis is, for logs and health (host:port list; never the password).</summary>
    public string Endpoints { get; }

    /// <summary>Raised when the shared connection comes back after a failure (streams and groups are re-checked).</summary>
    public event Action? Restored;

    public async ValueTask<IDatabase> GetDatabaseAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed == 1, this);
        return (await _shared.Value).GetDatabase();
    }

    public async ValueTask<bool> IsConnectedAsync() => (await _shared.Value).IsConnected;

    /// <summary>A new connection of its own, for one blocking reader. The caller disposes it.</summary>
    public Task<ConnectionMultiplexer> ConnectDedicatedAsync(string purpose) =>
        ConnectAsync(Sanitize($"{_clientName}-{purpose}"), _options.BlockMs + 5000);

    /// <summary>
    /// A connection of its own for one subscription's blocking <c>XREADGROUP</c>: the RESP reader that reads large values
    /// into pooled arrays where the configuration allows it (one endpoint, no TLS) and <see cref="RedisBusOptions.ReadConnection"/>
    /// is <c>auto</c>, else a multiplexer. The caller disposes it.
    /// </summary>
    internal async Task<IStreamReadConnection> ConnectReaderAsync(string purpose)
    {
        if (UsesOwnReader(_options))
        {
            return await RespStreamReadConnection.ConnectAsync(ReaderConfiguration(_options), Sanitize($"{_clientName}-{purpose}"), _options.ConnectTimeoutMs, 5000);
        }

        return new MultiplexerStreamReadConnection(await ConnectDedicatedAsync(purpose));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (_shared.IsValueCreated)
        {
            var mux = await _shared.Value;
            await mux.CloseAsync(allowCommandsToComplete: false);
            await mux.DisposeAsync();
        }
    }

    /// <summary>Whether subscriptions read with <see cref="RespStreamReadConnection"/> under these options.</summary>
    internal static bool UsesOwnReader(RedisBusOptions options) =>
        options.ReadConnection == RedisBusOptions.AutoReader && RespStreamReadConnection.Supports(ReaderConfiguration(options));

    /// <summary>The parsed configuration with the default ports filled in (<c>host</c> alone means 6379), as the multiplexer does.</summary>
    internal static ConfigurationOptions ReaderConfiguration(RedisBusOptions options)
    {
        var config = ConfigurationOptions.Parse(options.Configuration);
        config.SetDefaultPorts();
        return config;
    }

    private async Task<ConnectionMultiplexer> ConnectAsync(string clientName, int asyncTimeoutMs)
    {
        var config = ConfigurationOptions.Parse(_options.Configuration);
        config.AbortOnConnectFail = false;
        config.ConnectTimeout = _options.ConnectTimeoutMs;
        config.AsyncTimeout = Math.Max(asyncTimeoutMs, 5000);
        config.SyncTimeout = Math.Max(asyncTimeoutMs, 5000);
        config.ClientName = clientName;
        config.Protocol = RedisProtocol.Resp2;
        config.BacklogPolicy = BacklogPolicy.FailFast;
        config.ReconnectRetryPolicy = new ExponentialRetry(200, 2000);
        var mux = await ConnectionMultiplexer.ConnectAsync(config);
        mux.ConnectionRestored += (_, _) => Restored?.Invoke();
        return mux;
    }

    /// <summary>An endpoint as <c>host:port</c>, for logs and errors.</summary>
    internal static string Format(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        IPEndPoint ip => ip.ToString(),
        _ => endPoint.ToString() ?? "?",
    };

    private static string Sanitize(string name) =>
        new([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]);
}
