using System.Globalization;
using Detektor.Detection.Detectors;
using Detektor.Detection.Inference;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Gpu;

/// <summary>What the <c>gpu</c> check expects: the limits, the GPU provider asked for (if any) and what each detector got.</summary>
/// <param name="MaxTemperatureCelsius">Degraded above this (<see cref="DetectionOptions.GpuMaxTemperatureCelsius"/>).</param>
/// <param name="MaxMemoryUsedRatio">Degraded at or above this share of a GPU's memory in use (<see cref="DetectionOptions.GpuMaxMemoryUsedRatio"/>).</param>
/// <param name="WantedProvider">The first GPU provider in <c>Detektor:Detection:ExecutionProviders</c> (cuda, tensorrt), or null.</param>
/// <param name="DetectorProviders">Each loaded detector's provider (detector name → provider).</param>
public sealed record GpuExpectation(
    double MaxTemperatureCelsius,
    double MaxMemoryUsedRatio = 1.0,
    string? WantedProvider = null,
    IReadOnlyDictionary<string, string>? DetectorProviders = null);

/// <summary>
/// <c>gpu</c>: without a GPU, healthy and reported as absent — unless a GPU provider (cuda, tensorrt) is configured, then
/// degraded (detection runs on the CPU instead). With GPUs, degraded when one is hotter than
/// <see cref="DetectionOptions.GpuMaxTemperatureCelsius"/>, when one's memory is nearly full
/// (<see cref="DetectionOptions.GpuMaxMemoryUsedRatio"/>), or when a GPU provider was asked for but a loaded detector fell
/// back to another. Never unhealthy: detection goes on, slower.
/// </summary>
public sealed class GpuHealthCheck(GpuMonitor gpu, DetectorRuntime runtime, IOptions<DetectionOptions> options) : IHealthCheck
{
    public const string Name = "gpu";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var o = options.Value;
        var providers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, status) in new[] { (DetectorRuntime.ObjectsName, runtime.ObjectsStatus), (DetectorRuntime.FacesName, runtime.FacesStatus) })
        {
            if (status is { State: DetectorState.Ready, Provider: { } provider })
            {
                providers[name] = provider;
            }
        }

        var wanted = o.EffectiveProviders.FirstOrDefault(ExecutionProviders.IsGpu);
        return Task.FromResult(Evaluate(gpu.IsAvailable, gpu.Status, gpu.Read(), new GpuExpectation(o.GpuMaxTemperatureCelsius, o.GpuMaxMemoryUsedRatio, wanted, providers)));
    }

    public static HealthCheckResult Evaluate(bool available, string status, IReadOnlyList<GpuReading> readings, double maxTemperature) =>
        Evaluate(available, status, readings, new GpuExpectation(maxTemperature));

    public static HealthCheckResult Evaluate(bool available, string status, IReadOnlyList<GpuReading> readings, GpuExpectation expected)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["present"] = available,
            ["max_temperature_celsius"] = expected.MaxTemperatureCelsius,
            ["max_memory_used_ratio"] = expected.MaxMemoryUsedRatio,
        };
        if (expected.WantedProvider is { } wantedProvider)
        {
            data["wanted_provider"] = wantedProvider;
        }

        foreach (var (detector, provider) in expected.DetectorProviders ?? new Dictionary<string, string>())
        {
            data[$"detector_{detector}_provider"] = provider;
        }

        if (!available)
        {
            return expected.WantedProvider is { } wanted
                ? HealthCheckResult.Degraded($"{wanted} is configured (Detektor:Detection:ExecutionProviders) but there is no GPU: {status}", data: data)
                : HealthCheckResult.Healthy(status, data);
        }

        var problems = new List<string>();
        foreach (var r in readings)
        {
            var prefix = string.Create(CultureInfo.InvariantCulture, $"gpu{r.Index}");
            var memoryRatio = r.MemoryTotalBytes > 0 ? (double)r.MemoryUsedBytes / r.MemoryTotalBytes : 0;
            data[prefix + "_name"] = r.Name;
            data[prefix + "_temperature_celsius"] = r.TemperatureCelsius;
            data[prefix + "_utilization_percent"] = r.UtilizationPercent;
            data[prefix + "_memory_used_bytes"] = r.MemoryUsedBytes;
            data[prefix + "_memory_total_bytes"] = r.MemoryTotalBytes;
            data[prefix + "_memory_used_ratio"] = Math.Round(memoryRatio, 4);
            if (r.TemperatureCelsius > expected.MaxTemperatureCelsius)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"GPU {r.Index} at {r.TemperatureCelsius:0} °C, above {expected.MaxTemperatureCelsius:0} °C"));
            }

            if (r.MemoryTotalBytes > 0 && memoryRatio >= expected.MaxMemoryUsedRatio)
            {
                problems.Add(string.Create(
                    CultureInfo.InvariantCulture,
                    $"GPU {r.Index} memory {memoryRatio:P0} used ({r.MemoryUsedBytes / (1024.0 * 1024):0} of {r.MemoryTotalBytes / (1024.0 * 1024):0} MiB)"));
            }
        }

        if (expected.WantedProvider is { } asked)
        {
            foreach (var (detector, provider) in expected.DetectorProviders ?? new Dictionary<string, string>())
            {
                if (!ExecutionProviders.IsGpu(provider))
                {
                    problems.Add($"detector {detector} runs on {provider}, not {asked} (see its fallback reasons in the log)");
                }
            }
        }

        return problems.Count > 0
            ? HealthCheckResult.Degraded(string.Join("; ", problems), data: data)
            : HealthCheckResult.Healthy(status, data);
    }
}
