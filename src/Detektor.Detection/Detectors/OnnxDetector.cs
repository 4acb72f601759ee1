using System.Collections.Concurrent;
using System.Diagnostics;
using Detektor.Core.Frames;
using Detektor.Core.Messages;
using Detektor.Detection.Decoding;
using Detektor.Detection.Inference;
using Detektor.Detection.Preprocessing;

namespace Detektor.Detection.Detectors;

/// <summary>How long each step of one detection took.</summary>
public readonly record struct DetectionTiming(TimeSpan Preprocess, TimeSpan Inference, TimeSpan Postprocess)
{
    public TimeSpan Total => Preprocess + Inference + Postprocess;
}

/// <summary>What to keep of a model's output: per-class minimum scores, NMS overlap and a cap.</summary>
public sealed record DetectRequest(ClassFilter Filter, float IouThreshold, int MaxDetections, string Source);

/// <summary>
/// A detector over one ONNX model: letterbox into the bound input tensor, run, decode, NMS, map boxes back to frame
/// pixels. Each concurrent caller gets a workspace (tensors, letterbox tables, candidate buffer) from a pool, so steady
/// state allocates nothing but the resulting detection records. Thread-safe.
/// </summary>
public abstract class OnnxDetector : IDisposable
{
    private readonly ConcurrentBag<Workspace> _workspaces = [];
    private readonly TensorLayout _layout;
    private readonly PixelNormalization _normalization;

    protected OnnxDetector(ModelSession session, LabelSet labels, TensorLayout layout, PixelNormalization normalization)
    {
        Session = session;
        Labels = labels;
        _layout = layout;
        _normalization = normalization;
        if (session.Inputs.Count != 1)
        {
            throw new NotSupportedException($"Model '{session.Path}' has {session.Inputs.Count} inputs; detectors take one image input.");
        }

        var shape = session.Inputs[0].Shape;
        (InputHeight, InputWidth) = layout == TensorLayout.Nhwc ? ((int)shape[1], (int)shape[2]) : ((int)shape[2], (int)shape[3]);
    }

    public ModelSession Session { get; }

    public LabelSet Labels { get; }

    public int InputWidth { get; }

    public int InputHeight { get; }

    public string ModelName => Path.GetFileName(Session.Path);

    public string Provider => Session.Provider;

    /// <summary>Detects in the whole frame.</summary>
    public DetectionTiming Detect(ReadOnlySpan<byte> rgb24, int width, int height, DetectRequest request, List<Core.Messages.Detection> output) =>
        Detect(rgb24, width, height, new PixelRect(0, 0, width, height), request, output);

    /// <summary>Detects in <paramref name="region"/> of an rgb24 frame; boxes come back in frame pixels.</summary>
    public DetectionTiming Detect(ReadOnlySpan<byte> rgb24, int width, int height, PixelRect region, DetectRequest request, List<Core.Messages.Detection> output) =>
        Detect(rgb24, PixelFormats.Rgb24, width, height, region, request, output);

    /// <summary>Detects in the whole frame of <paramref name="pixelFormat"/> (rgb24 or yuv420p).</summary>
    public DetectionTiming Detect(ReadOnlySpan<byte> pixels, string pixelFormat, int width, int height, DetectRequest request, List<Core.Messages.Detection> output) =>
        Detect(pixels, pixelFormat, width, height, new PixelRect(0, 0, width, height), request, output);

    /// <summary>
    /// Detects in <paramref name="region"/> of a frame of <paramref name="pixelFormat"/> (rgb24 or yuv420p, converted row by
    /// row while the letterbox samples it); boxes come back in frame pixels.
    /// </summary>
    public DetectionTiming Detect(ReadOnlySpan<byte> pixels, string pixelFormat, int width, int height, PixelRect region, DetectRequest request, List<Core.Messages.Detection> output)
    {
        var workspace = Rent();
        try
        {
            var start = Stopwatch.GetTimestamp();
            var transform = workspace.Letterbox.Fill(pixels, pixelFormat, width, height, region, workspace.Buffers.Inputs[0]);
            var preprocessed = Stopwatch.GetTimestamp();
            Session.Run(workspace.Buffers);
            var inferred = Stopwatch.GetTimestamp();
            var candidates = workspace.Candidates;
            candidates.Clear();
            Decode(workspace.Buffers.Outputs, request.Filter, candidates);
            Nms.Apply(candidates, request.IouThreshold, request.MaxDetections);
            for (var i = 0; i < candidates.Count; i++)
            {
                var c = candidates[i];
                var x1 = transform.ToFrameX(c.X1);
                var y1 = transform.ToFrameY(c.Y1);
                var x2 = transform.ToFrameX(c.X2);
                var y2 = transform.ToFrameY(c.Y2);
                if (x2 - x1 < 1 || y2 - y1 < 1)
                {
                    continue;
                }

                output.Add(new Core.Messages.Detection(Labels[c.ClassId], c.Score, new BoundingBox(x1, y1, x2 - x1, y2 - y1))
                {
                    ClassId = c.ClassId,
                    Source = request.Source,
                });
            }

            var end = Stopwatch.GetTimestamp();
            return new DetectionTiming(
                Stopwatch.GetElapsedTime(start, preprocessed),
                Stopwatch.GetElapsedTime(preprocessed, inferred),
                Stopwatch.GetElapsedTime(inferred, end));
        }
        finally
        {
            _workspaces.Add(workspace);
        }
    }

    /// <summary>Decodes the model's outputs (in <see cref="ModelSession.Outputs"/> order) into candidates in input pixels.</summary>
    protected abstract void Decode(float[][] outputs, ClassFilter filter, CandidateBuffer candidates);

    protected int OutputIndex(Func<TensorSpec, bool> match, string what)
    {
        for (var i = 0; i < Session.Outputs.Count; i++)
        {
            if (match(Session.Outputs[i]))
            {
                return i;
            }
        }

        throw new NotSupportedException($"Model '{Session.Path}' has no {what} output (outputs: {string.Join(", ", Session.Outputs)}).");
    }

    private Workspace Rent() =>
        _workspaces.TryTake(out var workspace)
            ? workspace
            : new Workspace(Session.CreateBuffers(), new Letterbox(InputWidth, InputHeight, _layout, _normalization), new CandidateBuffer());

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (!disposing)
        {
            return;
        }

        while (_workspaces.TryTake(out var workspace))
        {
            workspace.Buffers.Dispose();
        }

        Session.Dispose();
    }

    private sealed record Workspace(SessionBuffers Buffers, Letterbox Letterbox, CandidateBuffer Candidates);
}
