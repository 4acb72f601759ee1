using System.Globalization;
using Detektor.Core.Security;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Bus.Redis;

/// <summary><c>redis</c> (tagged ready): Redis answers PING within 2 s. When it does not, the process is not ready.</summary>
public sealed class RedisHealthCheck(RedisConnection connection) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            var db = await connection.GetDatabaseAsync();
            var latency = await db.PingAsync().WaitAsync(timeout.Token);
            return HealthCheckResult.Healthy(string.Create(CultureInfo.InvariantCulture, $"redis {connection.Endpoints}: PING {latency.TotalMilliseconds:0.0} ms"));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var reason = ex is OperationCanceledException ? "no answer to PING within 2 s" : SecretMasker.MaskSecrets(ex.Message);
            return HealthCheckResult.Unhealthy($"redis at {connection.Endpoints} is unreachable: {reason}");
        }
    }
}
