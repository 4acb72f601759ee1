using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Detektor.Api.Http;
using Detektor.Bus;
using Detektor.Bus.Leases;
using Detektor.Bus.Redis;
using Detektor.Core.Frames;
using Detektor.Core.Messages;
using Detektor.Core.Resilience;
using Detektor.Core.Tracing;
using Detektor.Imaging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Detektor.Api.Frames;

/// <summary>
/// Processors outside Detektor, over HTTP: <c>GET /api/v1/frames/dequeue</c> leases frames (long poll), <c>POST
/// /api/v1/frames/{id}/results</c> returns the result and ends the lease. A lease not completed in time is given to
/// another consumer and its late result is refused (409). Bad input answers 400 ProblemDetails naming the field.
/// </summary>
public static partial class FrameLeaseEndpoints
{
    public const int MaxDetections = 1000;
    public const int MaxLabelLength = 64;
    public const int MaxReasonLength = 256;

    public static IEndpointRouteBuilder MapFrameLeases(this IEndpointRouteBuilder endpoints)
    {
        var frames = endpoints.MapGroup("/api/v1/frames").WithTags("Frames");
        frames.MapGet("/dequeue", DequeueAsync)
            .WithName("DequeueFrames")
            .WithSummary("Leases up to count frames to an external processor, waiting up to wait seconds for the first.")
            .Produces<DequeueResponse>()
            .ProducesValidationProblem();
        frames.MapPost("/{id}/results", CompleteAsync)
            .WithName("PostFrameResult")
            .WithSummary("The result of a leased frame: recorded, published to the store, and the frame acknowledged.")
            .Accepts<FrameResultRequest>("application/json")
            .Produces<FrameResultResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return endpoints;
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex ProcessorName();

    private static async Task<IResult> DequeueAsync(HttpContext context, FrameLeaseService leases, IOptions<BusOptions> options, CancellationToken cancellationToken)
    {
        var q = context.Request.Query;
        var errors = new FieldErrors();
        var processor = Single(q, "processor", errors);
        if (processor is null)
        {
            errors.Add("processor", "is required: the name of the external processor, 1-64 letters, digits, '_' or '-'.");
        }
        else if (!ProcessorName().IsMatch(processor))
        {
            errors.Add("processor", "must be 1-64 letters, digits, '_' or '-'.");
        }

        var count = 1;
        if (Single(q, "count", errors) is { } countText &&
            (!int.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1 || count > FrameLeaseService.MaxCount))
        {
            errors.Add("count", $"must be a whole number from 1 to {FrameLeaseService.MaxCount}.");
        }

        var wait = 0.0;
        if (Single(q, "wait", errors) is { } waitText &&
            (!double.TryParse(waitText, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out wait) || wait < 0 || wait > FrameLeaseService.MaxWaitSeconds))
        {
            errors.Add("wait", $"must be a number of seconds from 0 to {FrameLeaseService.MaxWaitSeconds}.");
        }

        var pixels = Single(q, "pixels", errors) ?? "raw";
        if (pixels is not ("raw" or "rgb24" or "jpeg" or "none"))
        {
            errors.Add("pixels", "must be raw, rgb24, jpeg or none.");
        }

        if (errors.Any)
        {
            return errors.ToResult();
        }

        var leased = await leases.DequeueAsync(processor!, count, TimeSpan.FromSeconds(wait), cancellationToken);
        return Results.Ok(new DequeueResponse(
            [.. leased.Leases.Select(l => LeasedFrameResponse.From(l, pixels))], options.Value.ClaimIdleMs / 1000.0, CircuitBreakerStatus.StateName(leased.Breaker), leased.Refused));
    }

    private static async Task<IResult> CompleteAsync(string id, HttpContext context, FrameLeaseService leases)
    {
        if (!FrameId.TryParse(id, out _, out var idError))
        {
            return ApiProblems.Field("id", idError);
        }

        var body = await JsonBody.ReadObjectAsync(context);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        using var doc = body.Document!;
        var root = doc.RootElement;
        var errors = new FieldErrors();
        var processor = String(root, "processor", errors, required: true, MaxLabelLength);
        if (processor is not null && !ProcessorName().IsMatch(processor))
        {
            errors.Add("processor", "must be 1-64 letters, digits, '_' or '-'.");
        }

        FrameOutcome outcome = default;
        if (String(root, "outcome", errors, required: true, 16) is { } outcomeText && !FrameOutcomeJsonConverter.TryParse(outcomeText, out outcome))
        {
            errors.Add("outcome", "must be processed, skipped or failed.");
        }

        var reason = String(root, "reason", errors, required: false, MaxReasonLength);
        if (reason is null && outcome != FrameOutcome.Processed && !errors.Any)
        {
            errors.Add("reason", "is required when the outcome is skipped or failed (e.g. no_motion, or the error).");
        }

        TimeSpan? duration = null;
        if (root.TryGetProperty("duration_ms", out var durationElement) && durationElement.ValueKind != JsonValueKind.Null)
        {
            if (durationElement.ValueKind != JsonValueKind.Number || !durationElement.TryGetDouble(out var ms) || ms < 0 || ms > TimeSpan.FromDays(1).TotalMilliseconds)
            {
                errors.Add("duration_ms", "must be a number of milliseconds from 0 to 86400000.");
            }
            else
            {
                duration = TimeSpan.FromTicks((long)(ms * TimeSpan.TicksPerMillisecond));
            }
        }

        var detections = ParseDetections(root, errors);
        if (errors.Any)
        {
            return errors.ToResult();
        }

        var result = await leases.CompleteAsync(id, processor!, new ExternalResult(outcome, reason, detections, duration), CancellationToken.None);
        return result switch
        {
            CompleteOutcome.Completed => Results.Ok(new FrameResultResponse(id, FrameOutcomeJsonConverter.ToWire(outcome), detections.Count, Acknowledged: true)),
            CompleteOutcome.NotLeased => ApiProblems.NotFound($"Frame '{id}' is not leased (never dequeued, already completed, or its lease ran out long ago)."),
            CompleteOutcome.OtherProcessor => Results.Problem(
                detail: $"Frame '{id}' is leased to another processor.", statusCode: StatusCodes.Status409Conflict, title: "Leased to another processor."),
            _ => Results.Problem(
                detail: $"The lease of frame '{id}' ran out; the frame was handed to another consumer and this result is not used.",
                statusCode: StatusCodes.Status409Conflict,
                title: "Lease expired."),
        };
    }

    private static List<Core.Messages.Detection> ParseDetections(JsonElement root, FieldErrors errors)
    {
        var list = new List<Core.Messages.Detection>();
        if (!root.TryGetProperty("detections", out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return list;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            errors.Add("detections", "must be an array.");
            return list;
        }

        if (array.GetArrayLength() > MaxDetections)
        {
            errors.Add("detections", $"must hold at most {MaxDetections} detections.");
            return list;
        }

        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"detections[{i++}]");
            if (item.ValueKind != JsonValueKind.Object)
            {
                errors.Add(path, "must be an object with label, confidence and box.");
                continue;
            }

            var label = String(item, "label", errors, required: true, MaxLabelLength, path + ".");
            var confidence = Number(item, "confidence", errors, path + ".", 0, 1);
            float x = 0, y = 0, width = 0, height = 0;
            if (!item.TryGetProperty("box", out var box) || box.ValueKind != JsonValueKind.Object)
            {
                errors.Add(path + ".box", "is required: an object with x, y, width and height in pixels.");
            }
            else
            {
                x = Number(box, "x", errors, path + ".box.", -1e6, 1e6);
                y = Number(box, "y", errors, path + ".box.", -1e6, 1e6);
                width = Number(box, "width", errors, path + ".box.", 0, 1e6);
                height = Number(box, "height", errors, path + ".box.", 0, 1e6);
            }

            var classId = -1;
            if (item.TryGetProperty("class_id", out var classElement) && classElement.ValueKind != JsonValueKind.Null &&
                (classElement.ValueKind != JsonValueKind.Number || !classElement.TryGetInt32(out classId) || classId < 0))
            {
                errors.Add(path + ".class_id", "must be a whole number from 0.");
            }

            var trackId = String(item, "track_id", errors, required: false, MaxLabelLength, path + ".");
            if (label is not null)
            {
                list.Add(new Core.Messages.Detection(label, confidence, new BoundingBox(x, y, width, height)) { ClassId = classId, TrackId = trackId });
            }
        }

        return list;
    }

    private static string? String(JsonElement obj, string name, FieldErrors errors, bool required, int maxLength, string prefix = "")
    {
        if (!obj.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                errors.Add(prefix + name, "is required.");
            }

            return null;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            errors.Add(prefix + name, "must be a string.");
            return null;
        }

        var value = element.GetString();
        if (string.IsNullOrEmpty(value))
        {
            if (required)
            {
                errors.Add(prefix + name, "is required.");
            }

            return null;
        }

        if (value.Length > maxLength || value.Any(char.IsControl))
        {
            errors.Add(prefix + name, $"must be at most {maxLength} printable characters.");
            return null;
        }

        return value;
    }

    private static float Number(JsonElement obj, string name, FieldErrors errors, string prefix, double min, double max)
    {
        if (!obj.TryGetProperty(name, out var element) || element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var value) ||
            !double.IsFinite(value) || value < min || value > max)
        {
            errors.Add(prefix + name, string.Create(CultureInfo.InvariantCulture, $"is required: a number from {min} to {max}."));
            return 0;
        }

        return (float)value;
    }

    private static string? Single(IQueryCollection query, string name, FieldErrors errors)
    {
        if (!query.TryGetValue(name, out var values) || values.Count == 0 || string.IsNullOrEmpty(values[0]))
        {
            return null;
        }

        if (values.Count > 1)
        {
            errors.Add(name, "must be given once.");
            return null;
        }

        return values[0]!.Length > 256 ? null : values[0];
    }
}

/// <param name="Items">The frames leased.</param>
/// <param name="LeaseSeconds">How long a lease lasts.</param>
/// <param name="Breaker">The processor's circuit breaker: closed, half_open or open.</param>
/// <param name="Refused">Ids of frames taken but not leased because the breaker is open; they got the processor's OnBreakerOpen policy.</param>
public sealed record DequeueResponse(IReadOnlyList<LeasedFrameResponse> Items, double LeaseSeconds, string Breaker, IReadOnlyList<string> Refused);

/// <summary>A leased frame: its metadata, trace context, lease and (optionally) its pixels.</summary>
public sealed record LeasedFrameResponse(
    string FrameId,
    string CameraId,
    int DeliveryCount,
    DateTimeOffset EnqueuedAt,
    DateTimeOffset LeasedAt,
    DateTimeOffset LeaseExpiresAt,
    string? Traceparent,
    FrameMetadata Metadata,
    PixelsResponse? Pixels)
{
    public static LeasedFrameResponse From(Lease lease, string pixels)
    {
        var message = lease.Delivery.Message;
        var metadata = message.Metadata;
        PixelsResponse? data = null;
        if (pixels != "none" && message.Pixels is { } buffer)
        {
            var convertible = PixelFormats.Capture.Contains(metadata.PixelFormat);
            data = pixels switch
            {
                "jpeg" when convertible => new PixelsResponse("jpeg", metadata.PixelFormat, metadata.Width, metadata.Height, ImageCodec.EncodeJpeg(buffer.Span, metadata.PixelFormat, metadata.Width, metadata.Height)),
                "rgb24" when convertible => new PixelsResponse("raw", PixelFormats.Rgb24, metadata.Width, metadata.Height, Rgb24Copy(buffer.Span, metadata)),
                _ => new PixelsResponse("raw", metadata.PixelFormat, metadata.Width, metadata.Height, buffer.Span.ToArray()),
            };
        }

        return new LeasedFrameResponse(
            lease.FrameId, metadata.CameraId, lease.Delivery.DeliveryCount, lease.Delivery.EnqueuedAt, lease.LeasedAt, lease.ExpiresAt,
            TraceContextPropagation.ToTraceParent(metadata.Trace.ToActivityContext()), metadata, data);
    }

    private static byte[] Rgb24Copy(ReadOnlySpan<byte> pixels, FrameMetadata metadata)
    {
        var rgb = new byte[metadata.Width * metadata.Height * 3];
        Yuv420p.CopyToRgb24(pixels, metadata.PixelFormat, metadata.Width, metadata.Height, rgb);
        return rgb;
    }
}

/// <param name="Encoding"><c>raw</c> (rows of <paramref name="Format"/>) or <c>jpeg</c>.</param>
/// <param name="Format">The pixel layout of raw data (e.g. rgb24), and of the frame the JPEG was made from.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Data">The bytes, base64 in JSON.</param>
public sealed record PixelsResponse(string Encoding, string Format, int Width, int Height, byte[] Data);

/// <summary>The body of <c>POST /api/v1/frames/{id}/results</c>.</summary>
public sealed record FrameResultRequest(string Processor, string Outcome, string? Reason, double? DurationMs, IReadOnlyList<DetectionRequest>? Detections);

public sealed record DetectionRequest(string Label, float Confidence, BoxResponse Box, int? ClassId, string? TrackId);

public sealed record FrameResultResponse(string FrameId, string Outcome, int Detections, bool Acknowledged);
