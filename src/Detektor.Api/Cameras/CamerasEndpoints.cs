using Detektor.Api.Http;
using Detektor.Capture.Cameras;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Detektor.Api.Cameras;

public static class CamerasEndpoints
{
    public static IEndpointRouteBuilder MapCameras(this IEndpointRouteBuilder endpoints)
    {
        var cameras = endpoints.MapGroup("/api/v1/cameras").WithTags("Cameras");
        cameras.MapGet("/", (CameraRegistry registry) => Results.Ok(new { items = registry.All.Select(CameraResponse.From).ToList() }))
            .WithName("ListCameras")
            .WithSummary("Every camera of this process: masked URL, state, measured fps, last frame time, reconnects.");
        cameras.MapGet("/{name}", (string name, CameraRegistry registry) =>
                registry.Find(name) is { } camera ? Results.Ok(CameraResponse.From(camera)) : ApiProblems.NotFound($"No camera named '{name}'."))
            .WithName("GetCamera")
            .Produces<CameraResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }
}

public sealed record CameraResponse(
    string Name,
    string Url,
    string State,
    DateTimeOffset StateSince,
    double ConfiguredFps,
    double MeasuredFps,
    int Width,
    int Height,
    DateTimeOffset? LastFrameAt,
    long FramesCaptured,
    long Reconnects,
    string? LastError)
{
    public static CameraResponse From(CameraStatus c) => new(
        c.Name, c.MaskedUrl, c.State.ToString().ToLowerInvariant(), c.StateSince, c.Options.Fps, Math.Round(c.MeasuredFps, 2),
        c.Options.Width, c.Options.Height, c.LastFrameAt, c.FramesCaptured, c.Reconnects, c.LastError);
}
