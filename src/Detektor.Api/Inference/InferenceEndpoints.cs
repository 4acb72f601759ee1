using System.Diagnostics;
using Detektor.Api.Http;
using Detektor.Detection;
using Detektor.Detection.Decoding;
using Detektor.Detection.Detectors;
using Detektor.Hosting.Correlation;
using Detektor.Imaging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Detektor.Api.Inference;

/// <summary>
/// One-shot inference on an uploaded image (the GPU demo of the seed): <c>POST /api/v1/inference</c> with the image in
/// the multipart form field <c>image</c>. An empty, corrupt or non-image upload answers 400, one larger than
/// <c>Detektor:Detection:MaxImageBytes</c> 413, both as ProblemDetails naming the field; no detector yet 503.
/// </summary>
public static class InferenceEndpoints
{
    public const string Field = "image";

    /// <summary>Room for the multipart boundaries and headers around the image.</summary>
    private const long MultipartOverhead = 64 * 1024;

    public static IEndpointRouteBuilder MapInference(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/api/v1/inference", InferAsync)
            .WithName("Infer")
            .WithTags("Inference")
            .WithSummary("Detects objects (and with faces=true, faces) in an uploaded image (multipart field 'image').")
            .DisableAntiforgery()
            .Produces<InferenceResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return endpoints;
    }

    private static async Task<IResult> InferAsync(HttpContext context, DetectorRuntime runtime, IOptions<DetectionOptions> options)
    {
        var o = options.Value;
        var limit = o.MaxImageBytes;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = limit + MultipartOverhead;
        }

        if (context.Request.ContentLength > limit + MultipartOverhead)
        {
            return TooLarge(limit);
        }

        if (!context.Request.HasFormContentType || context.Request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) != true)
        {
            return ApiProblems.Field(Field, "must be uploaded as a file in a multipart/form-data body (Content-Type: multipart/form-data).");
        }

        IFormCollection form;
        try
        {
            context.Features.Set<IFormFeature>(new FormFeature(context.Request, new FormOptions { MultipartBodyLengthLimit = limit + MultipartOverhead }));
            form = await context.Request.ReadFormAsync(context.RequestAborted);
        }
        catch (InvalidDataException ex) when (ex.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
        {
            return TooLarge(limit);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(limit);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or BadHttpRequestException)
        {
            return ApiProblems.Field(Field, $"the multipart body could not be read: {ex.Message}");
        }

        var file = form.Files.GetFile(Field);
        if (file is null)
        {
            return ApiProblems.Field(Field, "is required: send the image as the multipart file field 'image'.");
        }

        if (file.Length == 0)
        {
            return ApiProblems.Field(Field, "is empty.");
        }

        if (file.Length > limit)
        {
            return TooLarge(limit);
        }

        var bytes = new byte[file.Length];
        await using (var stream = file.OpenReadStream())
        {
            await stream.ReadExactlyAsync(bytes, context.RequestAborted);
        }

        RgbImage image;
        try
        {
            image = ImageCodec.Decode(bytes, o.MaxImagePixels);
        }
        catch (ImageDecodeException ex)
        {
            return ApiProblems.Field(Field, ex.Message);
        }

        await runtime.WhenLoaded.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (runtime.Objects is not { } objects)
        {
            return Results.Problem(
                detail: $"The object detector is not available: {runtime.ObjectsStatus.Reason ?? runtime.ObjectsStatus.State.ToString().ToLowerInvariant()}.",
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Detector unavailable.");
        }

        var found = new List<Core.Messages.Detection>();
        var request = new DetectRequest(
            new ClassFilter(objects.Labels, (float)o.MinScore, o.Labels, o.MinScores.ToDictionary(kv => kv.Key, kv => (float)kv.Value, StringComparer.OrdinalIgnoreCase)),
            (float)o.NmsIouThreshold,
            o.MaxDetections,
            DetectorRuntime.ObjectsName);
        var started = Stopwatch.GetTimestamp();
        var (timing, _) = await runtime.Lanes.RunAsync(
            static s => s.objects.Detect(s.image.Pixels, s.image.Width, s.image.Height, s.request, s.found), (objects, image, request, found), context.RequestAborted);
        var inferenceMs = timing.Inference.TotalMilliseconds;
        var models = objects.ModelName;
        if (string.Equals(context.Request.Query["faces"], "true", StringComparison.OrdinalIgnoreCase) && runtime.Faces is { } faces)
        {
            var faceRequest = new DetectRequest(new ClassFilter(1, (float)o.FaceMinScore), 0.3f, 64, DetectorRuntime.FacesName);
            var (faceTiming, _) = await runtime.Lanes.RunAsync(
                static s => s.faces.Detect(s.image.Pixels, s.image.Width, s.image.Height, s.faceRequest, s.found), (faces, image, faceRequest, found), context.RequestAborted);
            inferenceMs += faceTiming.Inference.TotalMilliseconds;
            models += "+" + faces.ModelName;
        }

        return Results.Ok(new InferenceResponse(
            [.. found.Select(d => new InferenceDetection(d.Label, Math.Round(d.Confidence, 4), new InferenceBox(Round(d.Box.X), Round(d.Box.Y), Round(d.Box.Width), Round(d.Box.Height)), d.Source))],
            Math.Round(inferenceMs, 2),
            Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 2),
            objects.Provider,
            objects.Session.UsesGpu,
            models,
            image.Width,
            image.Height,
            CorrelationIdMiddleware.Get(context)));
    }

    private static double Round(float value) => Math.Round(value, 1);

    private static IResult TooLarge(long limit) =>
        Results.ValidationProblem(
            new Dictionary<string, string[]>(StringComparer.Ordinal) { [Field] = [$"is larger than {limit} bytes (Detektor:Detection:MaxImageBytes)."] },
            detail: $"{Field}: is larger than {limit} bytes.",
            title: "The upload is too large.",
            statusCode: StatusCodes.Status413PayloadTooLarge);
}

public sealed record InferenceBox(double X, double Y, double Width, double Height);

public sealed record InferenceDetection(string Label, double Confidence, InferenceBox Box, string? Source);

/// <summary>What <c>POST /api/v1/inference</c> answers; <c>inference_time_ms</c> is the model run(s) alone, <c>total_time_ms</c> includes pre- and post-processing.</summary>
public sealed record InferenceResponse(
    IReadOnlyList<InferenceDetection> Detections,
    double InferenceTimeMs,
    double TotalTimeMs,
    string Provider,
    bool GpuUsed,
    string Model,
    int Width,
    int Height,
    string? CorrelationId);
