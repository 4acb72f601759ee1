using Detektor.Detection.Conversion;
using Detektor.Detection.Models;
using Microsoft.ML.OnnxRuntime;

namespace Detektor.Detection.Tests.Conversion;

/// <summary>
/// The converted CenterNet against TensorFlow.js itself. The golden values below were computed by running the original
/// TF.js graph model (@tensorflow/tfjs-core + tfjs-backend-cpu + tfjs-converter 4.22.0, Node 20) on the synthetic input
/// <c>x[y, x, c] = (7x + 13y + 29c) mod 256</c>: sums, the maximum and 16 sampled values per output, at flat NHWC
/// indices <c>(k × 2654435761) mod n</c>. They are digests, not weights.
/// </summary>
public class TfjsToOnnxConverterTests(ModelsFixture models)
{
    private const string FirstLayer = "tower_0/MobilenetV3/Conv/hard_swish/mul_1";

    public static float[] SyntheticInput()
    {
        var input = new float[512 * 512 * 3];
        for (var y = 0; y < 512; y++)
        {
            for (var x = 0; x < 512; x++)
            {
                for (var c = 0; c < 3; c++)
                {
                    input[(((y * 512) + x) * 3) + c] = ((x * 7) + (y * 13) + (c * 29)) % 256;
                }
            }
        }

        return input;
    }

    private static readonly (int Index, double Value)[] KeypointSamples =
    [
        (0, 0.021571006625890732), (227761, 0.001064437790773809), (455522, 0.0013885669177398086), (683283, 0.00039685468073002994),
        (911044, 0.0004430357657838613), (1138805, 0.0003349868056830019), (55846, 0.0003633417945820838), (283607, 0.0002557514817453921),
        (511368, 0.0004461613716557622), (739129, 0.002944256877526641), (966890, 0.00011910339526366442), (1194651, 0.00215061753988266),
        (111692, 0.00038477321504615247), (339453, 0.0008025102433748543), (567214, 0.0052953907288610935), (794975, 0.001644581789150834),
    ];

    private static readonly (int Index, double Value)[] WhSamples =
    [
        (0, 2.3787918090820312), (31153, 174.31219482421875), (62306, 161.8276824951172), (27923, 284.3662109375),
        (59076, 180.04908752441406), (24693, 176.75271606445312), (55846, 61.453643798828125), (21463, 166.08743286132812),
        (52616, 97.4189682006836), (18233, 143.11997985839844), (49386, 262.23443603515625), (15003, 203.55430603027344),
        (46156, 75.64002990722656), (11773, 84.99430847167969), (42926, 81.3649673461914), (8543, 71.58995056152344),
    ];

    private static readonly (int Index, double Value)[] FirstLayerSamples =
    [
        (0, 6.9599456787109375), (489905, 3.0309319496154785), (979810, 20.410825729370117), (421139, 5.308543682098389),
        (911044, 1.6471920013427734), (352373, 1.3564882278442383), (842278, 5.391745090484619), (283607, 0.1450536549091339),
        (773512, 0.020079895853996277), (214841, -0.24768973886966705), (704746, 0), (146075, 0.25752273201942444),
        (635980, 6.895681858062744), (77309, 0.369497150182724), (567214, 0.8055195808410645), (8543, 2.6270244121551514),
    ];

    [Fact]
    public void Convert_CenterNet_MatchesTensorFlowJsOnSyntheticInput()
    {
        var tfjs = TfjsGraphModel.Load(models.SourcePath(ModelCatalog.CenterNetModel, "centernet.json"));
        var onnx = TfjsToOnnxConverter.Convert(tfjs, [CenterNetModelInfo.KeypointsOutput, CenterNetModelInfo.WhOutput, FirstLayer]);

        var outputs = Run(onnx.ToBytes(), SyntheticInput());

        Assert.Equal([1L, 128, 128, 80], outputs[CenterNetModelInfo.KeypointsOutput].Shape);
        Assert.Equal([1L, 128, 128, 4], outputs[CenterNetModelInfo.WhOutput].Shape);
        AssertMatches(outputs[CenterNetModelInfo.KeypointsOutput].Data, KeypointSamples, sum: 1969.8499504157062, max: 0.28668609261512756, argmax: 650171, tolerance: 1e-5);
        AssertMatches(outputs[CenterNetModelInfo.WhOutput].Data, WhSamples, sum: 8590273.972955585, max: 310.8681945800781, argmax: 26810, tolerance: 2e-3);
        AssertMatches(outputs[FirstLayer].Data, FirstLayerSamples, sum: 4269029.155063566, max: 33.09346008300781, argmax: 1044748, tolerance: 1e-4);
    }

    [Fact]
    public void Convert_FirstLayer_MatchesIndependentNhwcReference()
    {
        // TensorFlow semantics computed here directly in NHWC from the weights: Conv2D 3x3 stride 2 with SAME padding
        // (TF pads 0 before and 1 after for an even input), BiasAdd, then hard-swish x * relu6(x + 3) * 0.1666.
        var tfjs = TfjsGraphModel.Load(models.SourcePath(ModelCatalog.CenterNetModel, "centernet.json"));
        var onnx = TfjsToOnnxConverter.Convert(tfjs, [FirstLayer]);
        var input = SyntheticInput();
        var converted = Run(onnx.ToBytes(), input)[FirstLayer].Data;

        var filter = tfjs.Weights["tower_0/MobilenetV3/Conv/Conv2D_weights"].Floats!;
        var bias = tfjs.Weights["tower_0/MobilenetV3/Conv/Conv2D_bn_offset"].Floats!;
        var scale = tfjs.Weights["tower_0/MobilenetV3/Conv/hard_swish/mul_1/y"].Floats![0];
        var maxError = 0.0;
        for (var oy = 0; oy < 256; oy += 5)
        {
            for (var ox = 0; ox < 256; ox += 3)
            {
                for (var o = 0; o < 16; o++)
                {
                    double acc = bias[o];
                    for (var ky = 0; ky < 3; ky++)
                    {
                        for (var kx = 0; kx < 3; kx++)
                        {
                            var iy = (oy * 2) + ky;
                            var ix = (ox * 2) + kx;
                            if (iy >= 512 || ix >= 512)
                            {
                                continue;
                            }

                            for (var i = 0; i < 3; i++)
                            {
                                acc += input[(((iy * 512) + ix) * 3) + i] * filter[(((((ky * 3) + kx) * 3) + i) * 16) + o];
                            }
                        }
                    }

                    var expected = acc * scale * Math.Clamp(acc + 3, 0, 6);
                    maxError = Math.Max(maxError, Math.Abs(expected - converted[(((oy * 256) + ox) * 16) + o]));
                }
            }
        }

        Assert.True(maxError < 1e-3, $"max abs error {maxError}");
    }

    [Fact]
    public void Convert_UnsupportedOp_NamesOpAndNode()
    {
        var tfjs = TfjsGraphModel.Load(models.SourcePath(ModelCatalog.CenterNetModel, "centernet.json"));

        var ex = Assert.Throws<NotSupportedException>(() => TfjsToOnnxConverter.Convert(tfjs, ["tower_0/max_pooling2d/MaxPool"]));

        Assert.Contains("'MaxPool'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("tower_0/max_pooling2d/MaxPool", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_CenterNet_ReadsAllWeightsOfTheManifest()
    {
        var sut = TfjsGraphModel.Load(models.SourcePath(ModelCatalog.CenterNetModel, "centernet.json"));

        Assert.Equal(544, sut.Nodes.Count);
        Assert.Equal(267, sut.Weights.Count);
        Assert.Equal([3, 3, 3, 16], sut.Weights["tower_0/MobilenetV3/Conv/Conv2D_weights"].Shape);
        Assert.Equal(3f, sut.Weights["tower_0/MobilenetV3/Conv/hard_swish/add/y"].Floats![0]);
        Assert.Equal([32, 32], sut.Weights["tower_0/CenternetHead/c5_upsample/up_sampling2d/mul"].Ints!);
    }

    private static void AssertMatches(float[] data, (int Index, double Value)[] samples, double sum, double max, int argmax, double tolerance)
    {
        foreach (var (index, value) in samples)
        {
            Assert.True(Math.Abs(data[index] - value) <= tolerance * Math.Max(1, Math.Abs(value)), $"[{index}] = {data[index]}, TF.js {value}");
        }

        var actualSum = data.Sum(v => (double)v);
        Assert.True(Math.Abs(actualSum - sum) <= 1e-4 * Math.Abs(sum), $"sum {actualSum}, TF.js {sum}");
        var actualMax = data.Max();
        Assert.True(Math.Abs(actualMax - max) <= tolerance * Math.Max(1, max), $"max {actualMax}, TF.js {max}");
        Assert.Equal(argmax, Array.IndexOf(data, actualMax));
    }

    internal static Dictionary<string, (long[] Shape, float[] Data)> Run(byte[] model, float[] input)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model, options);
        var inputName = session.InputNames[0];
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 512, 512, 3]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [value], session.OutputNames);
        var map = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
        for (var i = 0; i < results.Count; i++)
        {
            map[session.OutputNames[i]] = (results[i].GetTensorTypeAndShape().Shape, results[i].GetTensorDataAsSpan<float>().ToArray());
        }

        return map;
    }
}
