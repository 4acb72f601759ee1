using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Gpu;

/// <summary>
/// <c>gpu</c>: healthy without a GPU (reported as absent) and with GPUs at or below the configured temperature; degraded
/// when a GPU is hotter than <see cref="DetectionOptions.GpuMaxTemperatureCelsius"/> (default 80 °C).
/// </summary>
public sealed class GpuHealthCheck(GpuMonitor gpu, IOptions<DetectionOptions> options) : IHealthCheck
{
    public const string Name = "gpu";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Evaluate(gpu.IsAvailable, gpu.Status, gpu.Read(), options.Value.GpuMaxTemperatureCelsius));

    public static HealthCheckResult Evaluate(bool available, string status, IReadOnlyList<GpuReading> readings, double maxTemperature)
    {
        var data = new Dictionary<string, object> { ["present"] = available, ["max_temperature_celsius"] = maxTemperature };
        if (!available)
        {
            return HealthCheckResult.Healthy(status, data);
        }

        var hot = new List<string>();
        foreach (var r in readings)
        {
            var prefix = string.Create(CultureInfo.InvariantCulture, $"gpu{r.Index}");
            data[prefix + "_name"] = r.Name;
            data[prefix + "_temperature_celsius"] = r.TemperatureCelsius;
            data[prefix + "_utilization_percent"] = r.UtilizationPercent;
            data[prefix + "_memory_used_bytes"] = r.MemoryUsedBytes;
            if (r.TemperatureCelsius > maxTemperature)
            {
                hot.Add(string.Create(CultureInfo.InvariantCulture, $"GPU {r.Index} at {r.TemperatureCelsius:0} °C"));
            }
        }

        return hot.Count > 0
            ? HealthCheckResult.Degraded(string.Create(CultureInfo.InvariantCulture, $"{string.Join(", ", hot)}, above {maxTemperature:0} °C"), data: data)
            : HealthCheckResult.Healthy(status, data);
    }
}
