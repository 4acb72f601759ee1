using System.Globalization;
using System.Text.RegularExpressions;
using Detektor.Api.Http;
using Detektor.Core.Frames;
using Detektor.Storage.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Detektor.Api.Stats;

/// <summary>
/// <c>GET /api/v1/stats?camera=&amp;from=&amp;to=&amp;interval=</c>: what happened to the frames captured in each interval —
/// frames, stored, skipped and dropped (by reason), failed, detections, capture-to-stored latency (mean, max, p50/p90/p99).
/// Every bad input answers 400 ProblemDetails naming the field.
/// </summary>
public static partial class StatsEndpoints
{
    public static readonly TimeSpan DefaultRange = TimeSpan.FromHours(1);
    public static readonly TimeSpan MaxInterval = TimeSpan.FromDays(31);

    public static IEndpointRouteBuilder MapStats(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/v1/stats", GetAsync)
            .WithTags("Stats")
            .WithName("GetStats")
            .WithSummary("Per-interval frame, skip, drop and detection counts and latency percentiles, for one camera or all.")
            .Produces<StatsResponse>()
            .ProducesValidationProblem();
        return endpoints;
    }

    /// <summary>Reads an interval: a whole number of minutes, hours or days (<c>1m</c>, <c>15m</c>, <c>1h</c>, <c>1d</c>), 1 minute to 31 days.</summary>
    public static bool TryParseInterval(string text, out TimeSpan interval)
    {
        interval = default;
        var match = IntervalPattern().Match(text);
        if (!match.Success || !int.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
        {
            return false;
        }

        interval = match.Groups[2].Value switch
        {
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            _ => TimeSpan.FromDays(n),
        };
        return interval <= MaxInterval;
    }

    private static async Task<IResult> GetAsync(HttpContext context, IEventStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var q = context.Request.Query;
        var errors = new FieldErrors();
        var camera = QueryParameters.One(q, "camera", errors);
        if (camera is not null && !CameraId.IsValid(camera))
        {
            errors.Add("camera", $"must be {CameraId.Rule}.");
        }

        var from = QueryParameters.Time(QueryParameters.One(q, "from", errors), "from", errors);
        var to = QueryParameters.Time(QueryParameters.One(q, "to", errors), "to", errors);
        var interval = TimeSpan.FromMinutes(1);
        if (QueryParameters.One(q, "interval", errors) is { } intervalText && !TryParseInterval(intervalText, out interval))
        {
            errors.Add("interval", "must be a whole number of minutes, hours or days from 1m to 31d, e.g. 1m, 15m, 1h, 1d.");
        }

        if (errors.Any)
        {
            return errors.ToResult();
        }

        var end = to ?? time.GetUtcNow();
        var start = from ?? end - DefaultRange;
        if (start >= end)
        {
            errors.Add(to is null ? "from" : "to", "the range is empty: to must be later than from.");
            return errors.ToResult();
        }

        var buckets = Math.Ceiling((end - start) / interval);
        if (buckets > StatsQuery.MaxBuckets)
        {
            errors.Add("interval", string.Create(
                CultureInfo.InvariantCulture,
                $"would split the range into {buckets:0} intervals; at most {StatsQuery.MaxBuckets} — use a longer interval or a shorter range."));
            return errors.ToResult();
        }

        var stats = await store.GetStatsAsync(new StatsQuery(camera, start, end, interval), cancellationToken);
        return Results.Ok(new StatsResponse(camera, start, end, (long)interval.TotalSeconds, stats));
    }

    [GeneratedRegex(@"^([0-9]{1,6})([mhd])$", RegexOptions.CultureInvariant)]
    private static partial Regex IntervalPattern();
}

/// <summary>The stats of a range; each bucket's <c>latency</c> holds count, mean_ms, max_ms and the p50/p90/p99 estimates (within 19 %).</summary>
public sealed record StatsResponse(string? CameraId, DateTimeOffset From, DateTimeOffset To, long IntervalSeconds, IReadOnlyList<StatsBucket> Buckets);
