using Detektor.Detection.Detectors;
using Detektor.Detection.Inference;
using Detektor.Detection.Models;

namespace Detektor.Detection.Tests.Inference;

public class ModelSessionTests(ModelsFixture models)
{
    [Fact]
    public void Open_CudaFirstOnCpuBuild_FallsBackToCpuAndSaysWhy()
    {
        using var sut = ModelSession.Open(
            models.OnnxPath(ModelCatalog.BlazeFaceModel),
            new InferenceSettings { ExecutionProviders = [ExecutionProviders.Cuda, ExecutionProviders.TensorRt, ExecutionProviders.OpenVino, ExecutionProviders.Cpu], IntraOpThreads = 1 });

        Assert.Equal(ExecutionProviders.Cpu, sut.Provider);
        Assert.False(sut.UsesGpu);
        Assert.Equal(3, sut.FallbackReasons.Count);
        Assert.StartsWith("cuda: CUDAExecutionProvider is not in this ONNX Runtime build (CPU build", sut.FallbackReasons[0], StringComparison.Ordinal);
        Assert.StartsWith("tensorrt: ", sut.FallbackReasons[1], StringComparison.Ordinal);
        Assert.StartsWith("openvino: ", sut.FallbackReasons[2], StringComparison.Ordinal);
        Assert.False(ExecutionProviders.GpuBuild);
    }

    [Fact]
    public void Open_OnlyGpuAsked_StillRunsOnCpu()
    {
        using var sut = ObjectDetector.Open(models.OnnxPath(ModelCatalog.CenterNetModel), ObjectModelKind.Auto, null, new InferenceSettings { ExecutionProviders = [ExecutionProviders.Cuda] });

        Assert.Equal(ExecutionProviders.Cpu, sut.Provider);
        Assert.Single(sut.Session.FallbackReasons);
    }

    [Fact]
    public void Open_ReportsFixedShapes()
    {
        using var sut = ModelSession.Open(models.OnnxPath(ModelCatalog.CenterNetModel), new InferenceSettings { WarmupRuns = 0 });

        Assert.Equal("tower_0/images [1,512,512,3]", Assert.Single(sut.Inputs).ToString());
        Assert.Contains(sut.Outputs, o => o.ToString() == "tower_0/keypoints [1,128,128,80]");
        Assert.Contains(sut.Outputs, o => o.ToString() == "tower_0/wh [1,128,128,4]");
    }

    [Fact]
    public void Run_LeanMemory_GivesTheArenasOutputs()
    {
        using var arena = ModelSession.Open(models.OnnxPath(ModelCatalog.CenterNetModel), new InferenceSettings { WarmupRuns = 0, IntraOpThreads = 1 });
        using var sut = ModelSession.Open(
            models.OnnxPath(ModelCatalog.CenterNetModel), new InferenceSettings { WarmupRuns = 0, IntraOpThreads = 1, Memory = InferenceMemory.Lean });
        using var expected = arena.CreateBuffers();
        using var actual = sut.CreateBuffers();
        var random = new Random(7);
        for (var i = 0; i < expected.Inputs[0].Length; i++)
        {
            expected.Inputs[0][i] = actual.Inputs[0][i] = (float)random.NextDouble();
        }

        // Twice: the second lean run allocates its tensors anew, after the first gave them back.
        for (var run = 0; run < 2; run++)
        {
            arena.Run(expected);
            sut.Run(actual);
            for (var o = 0; o < expected.Outputs.Length; o++)
            {
                Assert.True(expected.Outputs[o].Any(v => v != 0), $"output {o} is all zeros");
                Assert.Equal(expected.Outputs[o], actual.Outputs[o]);
            }
        }
    }

    [Fact]
    public void Open_MissingFile_SaysWhich()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => ModelSession.Open("/nonexistent/model.onnx", new InferenceSettings()));

        Assert.Contains("/nonexistent/model.onnx", ex.Message, StringComparison.Ordinal);
    }
}
