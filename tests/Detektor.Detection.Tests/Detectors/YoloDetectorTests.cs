using Detektor.Detection.Conversion;
using Detektor.Detection.Decoding;
using Detektor.Detection.Detectors;
using Detektor.Detection.Inference;
using Detektor.Testing;

namespace Detektor.Detection.Tests.Detectors;

/// <summary>
/// YOLO layouts on small ONNX models built here: the output is a Constant holding a known tensor (plus 0 × the mean of
/// the input, so the image really flows through the graph), written with the product's own ONNX writer.
/// </summary>
public sealed class YoloDetectorTests : IDisposable
{
    private const int Size = 64;
    private const int Classes = 80;
    private readonly TempDirectory _dir = new();

    // Rows: cx, cy, w, h (input pixels), objectness, class scores. Row 1 duplicates row 0 with a lower score (NMS drops
    // it); row 2 has low objectness; row 3 is a person elsewhere.
    private static readonly (float Cx, float Cy, float W, float H, float Obj, int Class, float Score)[] Rows =
    [
        (32, 32, 20, 10, 0.9f, 2, 0.8f),
        (33, 32, 20, 10, 0.9f, 2, 0.5f),
        (10, 10, 8, 8, 0.05f, 0, 0.9f),
        (50, 40, 6, 12, 1f, 0, 0.7f),
    ];

    public static byte[] ConstantModel(string layout, long[] inputShape)
    {
        var n = Rows.Length;
        float[] data;
        long[] shape;
        if (layout == "v5")
        {
            shape = [1, n, 5 + Classes];
            data = new float[n * (5 + Classes)];
            for (var i = 0; i < n; i++)
            {
                var r = Rows[i];
                var row = data.AsSpan(i * (5 + Classes));
                (row[0], row[1], row[2], row[3], row[4]) = (r.Cx, r.Cy, r.W, r.H, r.Obj);
                row[5 + r.Class] = r.Score;
            }
        }
        else
        {
            shape = [1, 4 + Classes, n];
            data = new float[(4 + Classes) * n];
            for (var i = 0; i < n; i++)
            {
                var r = Rows[i];
                (data[i], data[n + i], data[(2 * n) + i], data[(3 * n) + i]) = (r.Cx, r.Cy, r.W, r.H);
                data[((4 + r.Class) * n) + i] = r.Score * r.Obj;
            }
        }

        var model = new OnnxModel("yolo-constant");
        model.Inputs.Add(new OnnxValueInfo("images", OnnxDataType.F32, inputShape));
        model.Outputs.Add(new OnnxValueInfo("output0", OnnxDataType.F32, shape));
        model.AddNode("Constant", "known", [], ["known"], OnnxAttribute.Of("value", OnnxTensor.FromFloats("known", shape, data)));
        model.AddNode("Constant", "zero", [], ["zero"], OnnxAttribute.Of("value", OnnxTensor.FromFloats("zero", [], [0f])));
        model.AddNode("ReduceMean", "mean", ["images"], ["mean"], OnnxAttribute.Of("keepdims", 0L));
        model.AddNode("Mul", "mul", ["mean", "zero"], ["nothing"]);
        model.AddNode("Add", "add", ["known", "nothing"], ["output0"]);
        return model.ToBytes();
    }

    private ObjectDetector Open(string layout, ObjectModelKind kind = ObjectModelKind.Auto)
    {
        var path = _dir.Combine($"yolo{layout}.onnx");
        File.WriteAllBytes(path, ConstantModel(layout, [1, 3, Size, Size]));
        return ObjectDetector.Open(path, kind, null, new InferenceSettings { IntraOpThreads = 1 });
    }

    [Theory]
    [InlineData("v5", ObjectModelKind.YoloV5)]
    [InlineData("v8", ObjectModelKind.YoloV8)]
    public void Detect_ConstantYoloOutput_DecodesNmsAndMapsToFramePixels(string layout, ObjectModelKind expectedKind)
    {
        using var sut = Open(layout);
        // A 128x64 frame letterboxes to 64x32 at scale 0.5, centred: 16 rows of padding above.
        var frame = new byte[128 * 64 * 3];
        var found = new List<Core.Messages.Detection>();

        sut.Detect(frame, 128, 64, new DetectRequest(new ClassFilter(LabelSet.Coco, 0.3f, null, null), 0.5f, 100, "objects"), found);

        Assert.Equal(expectedKind, sut.Kind);
        Assert.Equal(2, found.Count);
        var car = found[0];
        Assert.Equal(("car", 2), (car.Label, car.ClassId));
        Assert.Equal(0.72f, car.Confidence, 3);
        Assert.Equal(44f, car.Box.X, 2);
        Assert.Equal(22f, car.Box.Y, 2);
        Assert.Equal(40f, car.Box.Width, 2);
        Assert.Equal(20f, car.Box.Height, 2);
        var person = found[1];
        Assert.Equal("person", person.Label);
        Assert.Equal(0.7f, person.Confidence, 3);
        Assert.Equal(94f, person.Box.X, 2);
        Assert.Equal(36f, person.Box.Y, 2);
    }

    [Fact]
    public void Detect_ClassFilter_DropsOtherClasses()
    {
        using var sut = Open("v8");
        var found = new List<Core.Messages.Detection>();

        sut.Detect(new byte[Size * Size * 3], Size, Size, new DetectRequest(new ClassFilter(LabelSet.Coco, 0.3f, ["person"], null), 0.5f, 100, "objects"), found);

        var only = Assert.Single(found);
        Assert.Equal("person", only.Label);
    }

    [Fact]
    public void Open_OutputMatchingNoLayout_ExplainsWhatItExpected()
    {
        var path = _dir.Combine("odd.onnx");
        var model = new OnnxModel("odd");
        model.Inputs.Add(new OnnxValueInfo("images", OnnxDataType.F32, [1, 3, Size, Size]));
        model.Outputs.Add(new OnnxValueInfo("out", OnnxDataType.F32, [1, 7, 7]));
        model.AddNode("Constant", "c", [], ["c"], OnnxAttribute.Of("value", OnnxTensor.FromFloats("c", [1, 7, 7], new float[49])));
        model.AddNode("ReduceMean", "mean", ["images"], ["mean"], OnnxAttribute.Of("keepdims", 0L));
        model.AddNode("Mul", "mul", ["mean", "mean"], ["m2"]);
        model.AddNode("Add", "add", ["c", "m2"], ["out"]);
        File.WriteAllBytes(path, model.ToBytes());

        var ex = Assert.Throws<NotSupportedException>(() => ObjectDetector.Open(path, ObjectModelKind.Auto, null, new InferenceSettings()));

        Assert.Contains("YOLOv5 [1,N,85]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("YOLOv8 [1,84,N]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_CustomLabelFile_UsesItsNames()
    {
        var labels = _dir.Combine("labels.txt");
        File.WriteAllLines(labels, ["# my classes", "cat", "dog"]);
        var path = _dir.Combine("two.onnx");
        var model = new OnnxModel("two");
        model.Inputs.Add(new OnnxValueInfo("images", OnnxDataType.F32, [1, 3, Size, Size]));
        model.Outputs.Add(new OnnxValueInfo("out", OnnxDataType.F32, [1, 6, 1]));
        model.AddNode("Constant", "c", [], ["c"], OnnxAttribute.Of("value", OnnxTensor.FromFloats("c", [1, 6, 1], [32f, 32f, 10f, 10f, 0.1f, 0.9f])));
        model.AddNode("ReduceMean", "mean", ["images"], ["mean"], OnnxAttribute.Of("keepdims", 0L));
        model.AddNode("Sub", "sub", ["mean", "mean"], ["z"]);
        model.AddNode("Add", "add", ["c", "z"], ["out"]);
        File.WriteAllBytes(path, model.ToBytes());
        using var sut = ObjectDetector.Open(path, ObjectModelKind.YoloV8, LabelSet.Load(labels), new InferenceSettings());
        var found = new List<Core.Messages.Detection>();

        sut.Detect(new byte[Size * Size * 3], Size, Size, new DetectRequest(new ClassFilter(sut.Labels, 0.5f, null, null), 0.5f, 10, "objects"), found);

        Assert.Equal("dog", Assert.Single(found).Label);
    }

    public void Dispose() => _dir.Dispose();
}
