using System.Text.Json;
using Detektor.Core;
using Detektor.Core.Health;
using Detektor.Hosting.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Hosting.Health;

/// <summary>
/// <c>/health</c>, <c>/ready</c> and <c>/startup</c>, all answering in the format of ../shared/ARCHITECTURE.md:
/// <code>{ "status", "timestamp", "service", "version", "checks": { name: status }, "metadata": { "uptime_seconds", "last_error", … } }</code>
/// </summary>
public static class HealthEndpoints
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/health", (HttpContext context) => RespondAsync(context, Probe.Liveness)).ExcludeFromDescription().WithName("health");
        endpoints.MapGet("/ready", (HttpContext context) => RespondAsync(context, Probe.Readiness)).ExcludeFromDescription().WithName("ready");
        endpoints.MapGet("/startup", (HttpContext context) => RespondAsync(context, Probe.Startup)).ExcludeFromDescription().WithName("startup");
        return endpoints;
    }

    private enum Probe
    {
        Liveness,
        Readiness,
        Startup,
    }

    private static async Task RespondAsync(HttpContext context, Probe probe)
    {
        var services = context.RequestServices;
        var healthChecks = services.GetRequiredService<HealthCheckService>();
        var gate = services.GetRequiredService<StartupGate>();
        var report = await healthChecks.CheckHealthAsync(
            probe switch
            {
                Probe.Readiness => r => r.Tags.Contains(HealthTags.Ready) || r.Tags.Contains(HealthTags.Live),
                Probe.Startup => r => r.Tags.Contains(HealthTags.Startup),
                _ => static _ => true,
            },
            context.RequestAborted);

        var liveFailing = report.Entries.Any(e => e.Value.Status == HealthStatus.Unhealthy && e.Value.Tags.Contains(HealthTags.Live));
        var anyUnhealthy = report.Entries.Any(e => e.Value.Status == HealthStatus.Unhealthy);
        var anyNotHealthy = report.Entries.Any(e => e.Value.Status != HealthStatus.Healthy);
        string status;
        int code;
        switch (probe)
        {
            case Probe.Liveness:
                status = liveFailing ? "unhealthy" : anyNotHealthy ? "degraded" : "healthy";
                code = liveFailing ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
                break;
            case Probe.Readiness:
                var notStarted = !gate.IsStarted;
                status = anyUnhealthy || notStarted ? "unhealthy" : anyNotHealthy ? "degraded" : "healthy";
                code = anyUnhealthy || notStarted ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
                break;
            default:
                var started = gate.IsStarted && !anyUnhealthy;
                status = started ? (anyNotHealthy ? "degraded" : "healthy") : "unhealthy";
                code = started ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                break;
        }

        var identity = services.GetRequiredService<ServiceIdentity>();
        var time = services.GetRequiredService<TimeProvider>();
        var uptime = services.GetRequiredService<ProcessUptime>();
        var lastError = services.GetRequiredService<LastErrorTracker>().Last;
        var metadata = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["uptime_seconds"] = Math.Round(uptime.Elapsed.TotalSeconds, 1),
            ["last_error"] = lastError is null ? null : new { message = lastError.Message, category = lastError.Category, at = lastError.At },
            ["instance"] = identity.InstanceId,
            ["started"] = gate.IsStarted,
        };
        foreach (var contributor in services.GetServices<IHealthMetadataContributor>())
        {
            contributor.Contribute(metadata);
        }

        var checks = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var details = new SortedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, entry) in report.Entries)
        {
            checks[name] = ToWire(entry.Status);
            if (!string.IsNullOrEmpty(entry.Description) || entry.Data.Count > 0)
            {
                details[name] = new { description = entry.Description, data = entry.Data.Count > 0 ? entry.Data : null };
            }
        }

        if (details.Count > 0)
        {
            metadata["check_details"] = details;
        }

        context.Response.StatusCode = code;
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsJsonAsync(
            new HealthResponse(status, time.GetUtcNow(), identity.Name, identity.Version, checks, metadata),
            Json,
            context.RequestAborted);
    }

    private static string ToWire(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };

    public sealed record HealthResponse(
        string Status,
        DateTimeOffset Timestamp,
        string Service,
        string Version,
        IReadOnlyDictionary<string, string> Checks,
        IReadOnlyDictionary<string, object?> Metadata);
}

/// <summary>Time since the process started serving.</summary>
public sealed class ProcessUptime(TimeProvider time)
{
    private readonly long _start = time.GetTimestamp();

    public TimeSpan Elapsed => time.GetElapsedTime(_start);
}
