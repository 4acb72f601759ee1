using System.Globalization;
using Detektor.Api.Http;
using Detektor.Capture.Cameras;
using Detektor.Core.Messages;
using Detektor.Imaging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Detektor.Api.Cameras;

/// <summary>
/// <c>GET /api/v1/cameras</c> (every camera of this process), <c>GET /api/v1/cameras/{name}</c> (one camera, with its
/// recent state transitions), <c>GET /api/v1/cameras/{name}/snapshot.jpg</c> (its latest frame). URLs are always masked.
/// </summary>
public static class CamerasEndpoints
{
    public const int SnapshotQuality = 85;

    public static IEndpointRouteBuilder MapCameras(this IEndpointRouteBuilder endpoints)
    {
        var cameras = endpoints.MapGroup("/api/v1/cameras").WithTags("Cameras");
        cameras.MapGet("/", (CameraRegistry registry) => Results.Ok(new CameraListResponse([.. registry.All.Select(CameraResponse.From)])))
            .WithName("ListCameras")
            .WithSummary("Every camera of this process: masked URL, state, measured fps, last frame time, health, reconnects.")
            .Produces<CameraListResponse>();
        cameras.MapGet("/{name}", (string name, CameraRegistry registry) =>
                registry.Find(name) is { } camera ? Results.Ok(CameraResponse.WithDetails(camera)) : ApiProblems.NotFound($"No camera named '{name}'."))
            .WithName("GetCamera")
            .WithSummary("One camera, with its recent state transitions (time, reason, detail).")
            .Produces<CameraResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        cameras.MapGet("/{name}/snapshot.jpg", Snapshot)
            .WithName("GetCameraSnapshot")
            .WithSummary("The camera's latest frame as JPEG (the detect size); 404 when it has none yet.")
            .Produces(StatusCodes.Status200OK, contentType: "image/jpeg")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }

    private static IResult Snapshot(string name, CameraRegistry registry, HttpContext context)
    {
        if (registry.Find(name) is not { } camera)
        {
            return ApiProblems.NotFound($"No camera named '{name}'.");
        }

        if (camera.AcquireLatestFrame() is not var (pixels, info))
        {
            return ApiProblems.NotFound($"Camera '{name}' has no frame yet (state: {CameraHealth.StateName(camera.State)}).");
        }

        var jpeg = new MemoryStream(capacity: info.Width * info.Height / 4);
        try
        {
            ImageCodec.EncodeJpeg(pixels.Span, info.PixelFormat, info.Width, info.Height, jpeg, SnapshotQuality);
        }
        finally
        {
            pixels.Release();
        }

        var headers = context.Response.Headers;
        headers.CacheControl = "no-store";
        headers["X-Frame-Sequence"] = info.Sequence.ToString(CultureInfo.InvariantCulture);
        headers["X-Frame-Capture-Time"] = info.CaptureTime.ToString("O", CultureInfo.InvariantCulture);
        return Results.File(jpeg.ToArray(), "image/jpeg");
    }
}

public sealed record CameraListResponse(IReadOnlyList<CameraResponse> Items);

public sealed record CameraResponse(
    string Name,
    string Url,
    string State,
    DateTimeOffset StateSince,
    string Health,
    string? HealthDescription,
    double ConfiguredFps,
    double MeasuredFps,
    int Width,
    int Height,
    DateTimeOffset? LastFrameAt,
    double? LastFrameAgeSeconds,
    long FramesCaptured,
    long Reconnects,
    long DecodeErrors,
    double? MotionScore,
    string? LastError)
{
    public static CameraResponse From(CameraStatus c)
    {
        var health = CameraHealth.Evaluate(c);
        var now = c.Time.GetUtcNow();
        return new CameraResponse(
            c.Name, c.MaskedUrl, CameraHealth.StateName(c.State), c.StateSince, CameraHealth.StatusName(health.Status), health.Description,
            c.Options.Fps, Math.Round(c.MeasuredFps, 2), c.Options.Width, c.Options.Height, c.LastFrameAt,
            c.LastFrameAt is { } last ? Math.Round((now - last).TotalSeconds, 3) : null,
            c.FramesCaptured, c.Reconnects, c.DecodeErrors, c.LastMotionScore is { } m ? Math.Round(m, 5) : null, c.LastError);
    }

    /// <summary>Where the latest frame changed (frame pixel coordinates); only in the single-camera answer.</summary>
    public IReadOnlyList<BoundingBox>? MotionBoxes { get; init; }

    /// <summary>The recent state transitions, oldest first; only in the single-camera answer.</summary>
    public IReadOnlyList<CameraTransitionResponse>? Transitions { get; init; }

    /// <summary>The single-camera answer: the list item plus motion boxes and recent transitions.</summary>
    public static CameraResponse WithDetails(CameraStatus c)
    {
        IReadOnlyList<BoundingBox> boxes = [];
        if (c.AcquireLatestFrame() is var (pixels, info))
        {
            pixels.Release();
            boxes = info.MotionBoxes ?? [];
        }

        return From(c) with
        {
            MotionBoxes = boxes,
            Transitions = [.. c.RecentTransitions.Select(t => new CameraTransitionResponse(CameraHealth.StateName(t.From), CameraHealth.StateName(t.To), t.At, t.Reason, t.Detail))],
        };
    }
}

public sealed record CameraTransitionResponse(string From, string To, DateTimeOffset At, string Reason, string? Detail);
