using Detektor.Detection.Decoding;
using Detektor.Detection.Inference;
using Detektor.Detection.Preprocessing;

namespace Detektor.Detection.Detectors;

/// <summary>Output layouts the object detector understands.</summary>
public enum ObjectModelKind
{
    /// <summary>Decide from the model's inputs and outputs.</summary>
    Auto,

    /// <summary>CenterNet: NHWC input of raw 0..255 RGB, heat-map <c>[1,H,W,C]</c> and extents <c>[1,H,W,4]</c> (the default model).</summary>
    CenterNet,

    /// <summary>YOLOv5: NCHW input of 0..1 RGB, output <c>[1,N,5+C]</c>.</summary>
    YoloV5,

    /// <summary>YOLOv8 / YOLO11: NCHW input of 0..1 RGB, output <c>[1,4+C,N]</c>.</summary>
    YoloV8,
}

/// <summary>Objects (COCO-80 by default) with CenterNet or a user's YOLO export.</summary>
public sealed class ObjectDetector : OnnxDetector
{
    private readonly int _first;
    private readonly int _second;
    private readonly long[] _shape;

    private ObjectDetector(ModelSession session, LabelSet labels, ObjectModelKind kind, TensorLayout layout, PixelNormalization normalization)
        : base(session, labels, layout, normalization)
    {
        Kind = kind;
        if (kind == ObjectModelKind.CenterNet)
        {
            _first = OutputIndex(o => o.Shape is [1, _, _, var c] && c == labels.Count, $"heat-map [1,H,W,{labels.Count}]");
            _second = OutputIndex(o => o.Shape is [1, _, _, 4], "extents [1,H,W,4]");
            _shape = Session.Outputs[_first].Shape;
        }
        else
        {
            _first = OutputIndex(o => YoloDecoder.Detect(o.Shape, labels.Count) is not null, $"YOLO [1,N,{5 + labels.Count}] or [1,{4 + labels.Count},N]");
            _shape = Session.Outputs[_first].Shape;
        }
    }

    public ObjectModelKind Kind { get; }

    /// <summary>
    /// Opens an object model. With <see cref="ObjectModelKind.Auto"/> the layout follows from the shapes: an NHWC input
    /// and two outputs is CenterNet; an NCHW input and one <c>[1,N,5+C]</c> or <c>[1,4+C,N]</c> output is YOLO.
    /// </summary>
    public static ObjectDetector Open(string path, ObjectModelKind kind, LabelSet? labels, InferenceSettings settings, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        labels ??= LabelSet.Coco;
        var session = ModelSession.Open(path, settings, logger);
        try
        {
            var input = session.Inputs.Count == 1 ? session.Inputs[0].Shape : [];
            if (input is not [1, _, _, _])
            {
                throw new NotSupportedException($"Model '{path}' must have one 4-D image input; it has {string.Join(", ", session.Inputs)}.");
            }

            var nhwc = input[3] == 3;
            if (!nhwc && input[1] != 3)
            {
                throw new NotSupportedException($"Model '{path}': input {session.Inputs[0]} is neither NHWC nor NCHW RGB.");
            }

            if (kind == ObjectModelKind.Auto)
            {
                kind = nhwc && session.Outputs.Count == 2
                    ? ObjectModelKind.CenterNet
                    : session.Outputs.Select(o => YoloDecoder.Detect(o.Shape, labels.Count)).FirstOrDefault(l => l is not null) switch
                    {
                        YoloLayout.V5 => ObjectModelKind.YoloV5,
                        YoloLayout.V8 => ObjectModelKind.YoloV8,
                        _ => throw new NotSupportedException(
                            $"Model '{path}' has outputs {string.Join(", ", session.Outputs)}: not CenterNet, YOLOv5 [1,N,{5 + labels.Count}] or YOLOv8 [1,{4 + labels.Count},N] for {labels.Count} labels."),
                    };
            }

            return kind == ObjectModelKind.CenterNet
                ? new ObjectDetector(session, labels, kind, TensorLayout.Nhwc, PixelNormalization.Raw)
                : new ObjectDetector(session, labels, kind, nhwc ? TensorLayout.Nhwc : TensorLayout.Nchw, PixelNormalization.Unit);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    protected override void Decode(float[][] outputs, ClassFilter filter, CandidateBuffer candidates)
    {
        switch (Kind)
        {
            case ObjectModelKind.CenterNet:
                var (h, w, c) = ((int)_shape[1], (int)_shape[2], (int)_shape[3]);
                CenterNetDecoder.Decode(outputs[_first], outputs[_second], h, w, c, (float)InputWidth / w, filter, candidates);
                break;
            case ObjectModelKind.YoloV5:
                YoloDecoder.Decode(outputs[_first], YoloLayout.V5, (int)_shape[1], Labels.Count, filter, candidates);
                break;
            default:
                YoloDecoder.Decode(outputs[_first], YoloLayout.V8, (int)_shape[2], Labels.Count, filter, candidates);
                break;
        }
    }
}
