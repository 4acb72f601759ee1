namespace Detektor.Detection.Inference;

/// <summary>
/// Execution providers Detektor can ask ONNX Runtime for, in configuration order. The CPU package (the default build)
/// has only <c>cpu</c>; <c>cuda</c> and <c>tensorrt</c> come with the GPU build (<c>-p:DetektorGpu=true</c>),
/// <c>openvino</c> with an OpenVINO build of ONNX Runtime.
/// </summary>
public static class ExecutionProviders
{
    public const string Cuda = "cuda";
    public const string TensorRt = "tensorrt";
    public const string OpenVino = "openvino";
    public const string Cpu = "cpu";

    public static IReadOnlyList<string> All { get; } = [Cuda, TensorRt, OpenVino, Cpu];

    /// <summary>True in the GPU build (<c>-p:DetektorGpu=true</c>, which references Microsoft.ML.OnnxRuntime.Gpu.Linux).</summary>
    public static bool GpuBuild =>
#if DETEKTOR_GPU
        true;
#else
        false;
#endif

    /// <summary>ONNX Runtime's name of a provider (as <c>GetAvailableProviders</c> lists it).</summary>
    public static string OrtName(string provider) => provider switch
    {
        Cuda => "CUDAExecutionProvider",
        TensorRt => "TensorrtExecutionProvider",
        OpenVino => "OpenVINOExecutionProvider",
        Cpu => "CPUExecutionProvider",
        _ => throw new ArgumentOutOfRangeException(nameof(provider), provider, $"Allowed: {string.Join(", ", All)}."),
    };

    public static bool IsGpu(string provider) => provider is Cuda or TensorRt;
}
