using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Detektor.Hosting.Health;

/// <summary>
/// Free space of the file system holding the data directory (<c>Detektor:DataDir</c>): degraded below
/// <see cref="HostingOptions.DiskDegradedFreeRatio"/> free, unhealthy below <see cref="HostingOptions.DiskUnhealthyFreeRatio"/>
/// (the store journal and SQLite need room). Tagged ready: a full disk means the process cannot do its work.
/// </summary>
public sealed class DiskSpaceHealthCheck(string dataDirectory, IOptions<HostingOptions> options) : IHealthCheck
{
    public const string Name = "disk:data";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        // The directory may not exist yet: measure the nearest existing ancestor (the same file system it will be on).
        var path = Path.GetFullPath(dataDirectory);
        while (!Directory.Exists(path) && Path.GetDirectoryName(path) is { } parent)
        {
            path = parent;
        }

        var drive = new DriveInfo(path);
        var total = drive.TotalSize;
        var free = drive.AvailableFreeSpace;
        var ratio = total > 0 ? (double)free / total : 0;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["path"] = Path.GetFullPath(dataDirectory),
            ["free_bytes"] = free,
            ["total_bytes"] = total,
            ["free_ratio"] = Math.Round(ratio, 4),
        };
        var o = options.Value;
        var description = string.Create(CultureInfo.InvariantCulture, $"{free / (1024.0 * 1024 * 1024):0.##} GiB free of {total / (1024.0 * 1024 * 1024):0.##} GiB ({ratio:P1})");
        var result = ratio < o.DiskUnhealthyFreeRatio
            ? HealthCheckResult.Unhealthy(description, data: data)
            : ratio < o.DiskDegradedFreeRatio ? HealthCheckResult.Degraded(description, data: data) : HealthCheckResult.Healthy(description, data);
        return Task.FromResult(result);
    }
}

/// <summary>
/// The process's memory: working set against <see cref="HostingOptions.MemoryLimitBytes"/> when set (or the GC's limit,
/// which follows a container's cgroup limit): degraded above 90 %, unhealthy above 98 %. Not tagged live: a restart for memory
/// is the orchestrator's OOM killer's call; the check says it is coming.
/// </summary>
public sealed class MemoryHealthCheck(IOptions<HostingOptions> options) : IHealthCheck
{
    public const string Name = "memory";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var process = Process.GetCurrentProcess();
        var workingSet = process.WorkingSet64;
        var limit = options.Value.MemoryLimitBytes > 0 ? options.Value.MemoryLimitBytes : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var ratio = limit > 0 ? (double)workingSet / limit : 0;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["working_set_bytes"] = workingSet,
            ["managed_heap_bytes"] = GC.GetTotalMemory(false),
            ["limit_bytes"] = limit,
            ["used_ratio"] = Math.Round(ratio, 4),
        };
        var description = string.Create(CultureInfo.InvariantCulture, $"working set {workingSet / (1024.0 * 1024):0} MiB of {limit / (1024.0 * 1024):0} MiB ({ratio:P1})");
        var result = ratio > 0.98
            ? HealthCheckResult.Unhealthy(description, data: data)
            : ratio > 0.90 ? HealthCheckResult.Degraded(description, data: data) : HealthCheckResult.Healthy(description, data);
        return Task.FromResult(result);
    }
}

/// <summary>
/// CPU use over the last <see cref="HostingOptions.CpuWindow"/> (from <see cref="CpuUsageSampler"/>, sampled on a timer):
/// the process's against the cores available to it (the cgroup's limit when one is set), and the cgroup's (limited) or
/// the machine's. Degraded when the higher of the two is above <see cref="HostingOptions.CpuDegradedRatio"/>, unhealthy above
/// <see cref="HostingOptions.CpuUnhealthyRatio"/> (default 1: never). It judges once the samples cover half of
/// <see cref="HostingOptions.CpuWindow"/>; until then it is healthy and says so. Not tagged: a busy CPU makes frames late,
/// restarting would not help.
/// </summary>
public sealed class CpuHealthCheck(CpuUsageSampler sampler, IOptions<HostingOptions> options) : IHealthCheck
{
    public const string Name = "cpu";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var o = options.Value;
        if (sampler.Current is not { } usage || usage.Window < o.CpuWindow / 2)
        {
            return Task.FromResult(HealthCheckResult.Healthy("collecting samples"));
        }

        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["process_ratio"] = Math.Round(usage.ProcessRatio, 4),
            ["available_cores"] = Math.Round(usage.AvailableCores, 3),
            ["window_seconds"] = Math.Round(usage.Window.TotalSeconds, 1),
        };
        if (usage.MachineRatio is { } machine)
        {
            data["machine_ratio"] = Math.Round(machine, 4);
        }

        if (usage.CgroupRatio is { } cgroup)
        {
            data["cgroup_ratio"] = Math.Round(cgroup, 4);
        }

        if (usage.CgroupLimitCores is { } limit)
        {
            data["cgroup_limit_cores"] = Math.Round(limit, 3);
        }

        var worst = usage.WorstRatio;
        var surroundings = usage.CgroupRatio is { } c ? string.Create(CultureInfo.InvariantCulture, $", cgroup {c:P0} of {usage.CgroupLimitCores:0.##} cores")
            : usage.MachineRatio is { } m ? string.Create(CultureInfo.InvariantCulture, $", machine {m:P0}")
            : "";
        var description = string.Create(
            CultureInfo.InvariantCulture, $"process {usage.ProcessRatio:P0} of {usage.AvailableCores:0.##} cores{surroundings} over {usage.Window.TotalSeconds:0} s");
        var result = worst > o.CpuUnhealthyRatio
            ? HealthCheckResult.Unhealthy(description, data: data)
            : worst > o.CpuDegradedRatio ? HealthCheckResult.Degraded(description, data: data) : HealthCheckResult.Healthy(description, data);
        return Task.FromResult(result);
    }
}
