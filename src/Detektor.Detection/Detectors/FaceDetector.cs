using Detektor.Detection.Decoding;
using Detektor.Detection.Inference;
using Detektor.Detection.Preprocessing;

namespace Detektor.Detection.Detectors;

/// <summary>Faces with MediaPipe BlazeFace (NHWC input in [-1, 1], 896 anchors).</summary>
public sealed class FaceDetector : OnnxDetector
{
    private readonly int _scores16;
    private readonly int _scores8;
    private readonly int _boxes16;
    private readonly int _boxes8;

    private FaceDetector(ModelSession session)
        : base(session, LabelSet.Face, TensorLayout.Nhwc, PixelNormalization.Symmetric)
    {
        _scores16 = OutputIndex(o => o.Shape is [1, 512, 1], "scores [1,512,1]");
        _scores8 = OutputIndex(o => o.Shape is [1, 384, 1], "scores [1,384,1]");
        _boxes16 = OutputIndex(o => o.Shape is [1, 512, 16], "boxes [1,512,16]");
        _boxes8 = OutputIndex(o => o.Shape is [1, 384, 16], "boxes [1,384,16]");
        if (InputWidth != InputHeight)
        {
            throw new NotSupportedException($"BlazeFace input must be square; '{session.Path}' takes {InputWidth}x{InputHeight}.");
        }
    }

    public static FaceDetector Open(string path, InferenceSettings settings, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        var session = ModelSession.Open(path, settings, logger);
        try
        {
            return new FaceDetector(session);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    protected override void Decode(float[][] outputs, ClassFilter filter, CandidateBuffer candidates) =>
        BlazeFaceDecoder.Decode(outputs[_scores16], outputs[_boxes16], outputs[_scores8], outputs[_boxes8], InputWidth, filter.LowestMinScore, candidates);
}
