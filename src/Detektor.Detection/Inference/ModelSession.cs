using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace Detektor.Detection.Inference;

/// <summary>How sessions are made: threads, the ordered provider list, warm-up runs.</summary>
public sealed record InferenceSettings
{
    /// <summary>Threads ONNX Runtime uses inside one operator; 0 lets it choose (one per core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Providers to try in order; <c>cpu</c> is always the last resort.</summary>
    public IReadOnlyList<string> ExecutionProviders { get; init; } = [Inference.ExecutionProviders.Cpu];

    /// <summary>Inference runs on a blank input when the session opens (the first run is several times slower).</summary>
    public int WarmupRuns { get; init; } = 1;

    /// <summary>
    /// Let ONNX Runtime's intra-op threads spin while waiting for work. Off by default: on a shared or busy machine
    /// spinning threads take the cores from everything else (and from each other when several sessions run).
    /// </summary>
    public bool AllowSpinning { get; init; }

    /// <summary>
    /// <see cref="InferenceMemory.Arena"/> (default): ONNX Runtime keeps the tensors of every concurrent run in its arena —
    /// fastest, about 45 MiB more per concurrent CenterNet run. <see cref="InferenceMemory.Lean"/>: no arena; tensors are
    /// allocated per run and given back to the OS — less memory, more CPU per inference (docs/performance.md, "RSS").
    /// </summary>
    public string Memory { get; init; } = InferenceMemory.Arena;
}

/// <summary>How ONNX Runtime holds the tensors of a run on the CPU (<c>Detektor:Detection:InferenceMemory</c>).</summary>
public static partial class InferenceMemory
{
    public const string Arena = "arena";
    public const string Lean = "lean";

    // glibc mallopt parameter.
    private const int MmapThreshold = -3;
    private static int _leanMalloc;

    /// <summary>
    /// Lean mode on Linux/glibc: allocations of 128 KiB and more are mapped and unmapped on their own, so the tensors
    /// ONNX Runtime frees after each run go back to the OS instead of staying in malloc's heaps (glibc otherwise raises
    /// this threshold as large blocks are freed). Left alone when <c>MALLOC_MMAP_THRESHOLD_</c> is set. Once per process;
    /// true when the threshold was set by this call.
    /// </summary>
    internal static bool UseLeanMalloc()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
            || Interlocked.Exchange(ref _leanMalloc, 1) == 1)
        {
            return false;
        }

        try
        {
            return NativeMethods.MallOpt(MmapThreshold, 128 * 1024) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl has no mallopt): ONNX Runtime's arena is still off.
            return false;
        }
    }

    private static partial class NativeMethods
    {
        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mallopt")]
        public static partial int MallOpt(int parameter, int value);
    }
}

/// <summary>A tensor's name and fixed shape.</summary>
public sealed record TensorSpec(string Name, long[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    public override string ToString() => $"{Name} [{string.Join(',', Shape)}]";
}

/// <summary>
/// An ONNX Runtime session on the first execution provider of the configured list that works here, else CPU. It says
/// which provider it got (<see cref="Provider"/>) and why earlier ones were passed over (<see cref="FallbackReasons"/>).
/// Inputs and outputs are bound to preallocated buffers (<see cref="SessionBuffers"/>), so a run allocates no tensors.
/// </summary>
public sealed class ModelSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();

    private ModelSession(string path, InferenceSession session, string provider, IReadOnlyList<string> fallbackReasons)
    {
        Path = path;
        _session = session;
        Provider = provider;
        FallbackReasons = fallbackReasons;
        Inputs = [.. session.InputMetadata.Select(kv => new TensorSpec(kv.Key, Fix(kv.Key, kv.Value.Dimensions)))];
        Outputs = [.. session.OutputMetadata.Select(kv => new TensorSpec(kv.Key, Fix(kv.Key, kv.Value.Dimensions)))];
    }

    public string Path { get; }

    /// <summary>The provider the session runs on (<c>cpu</c>, <c>cuda</c>, …).</summary>
    public string Provider { get; }

    public bool UsesGpu => ExecutionProviders.IsGpu(Provider);

    /// <summary>One line per provider that was asked for before <see cref="Provider"/> and could not be used.</summary>
    public IReadOnlyList<string> FallbackReasons { get; }

    public IReadOnlyList<TensorSpec> Inputs { get; }

    public IReadOnlyList<TensorSpec> Outputs { get; }

    internal InferenceSession Session => _session;

    /// <summary>Opens <paramref name="path"/> on the first provider of <paramref name="settings"/> that works, and warms it up.</summary>
    public static ModelSession Open(string path, InferenceSettings settings, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        }

        var available = new HashSet<string>(OrtEnv.Instance().GetAvailableProviders(), StringComparer.Ordinal);
        var reasons = new List<string>();
        foreach (var provider in settings.ExecutionProviders.Append(ExecutionProviders.Cpu).Distinct(StringComparer.Ordinal))
        {
            if (provider == ExecutionProviders.Cpu)
            {
                var cpu = new ModelSession(path, new InferenceSession(path, Options(settings, null)), provider, reasons);
                cpu.WarmUp(settings.WarmupRuns);
                cpu.LogOpened(logger);
                return cpu;
            }

            var ortName = ExecutionProviders.OrtName(provider);
            if (!available.Contains(ortName))
            {
                reasons.Add($"{provider}: {ortName} is not in this ONNX Runtime build ({(ExecutionProviders.GpuBuild ? "GPU" : "CPU")} build; available: {string.Join(", ", available)})");
                continue;
            }

            try
            {
                var session = new ModelSession(path, new InferenceSession(path, Options(settings, provider)), provider, reasons);
                session.WarmUp(settings.WarmupRuns);
                session.LogOpened(logger);
                return session;
            }
            catch (OnnxRuntimeException ex)
            {
                reasons.Add($"{provider}: {ex.Message}");
            }
        }

        throw new InvalidOperationException("unreachable: cpu is always tried");
    }

    private void LogOpened(ILogger logger)
    {
        var file = System.IO.Path.GetFileName(Path);
        var fallbacks = FallbackReasons.Count == 0 ? "-" : string.Join("; ", FallbackReasons);
        Log.SessionOpened(logger, file, Provider, fallbacks);
    }

    private static SessionOptions Options(InferenceSettings settings, string? provider)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            IntraOpNumThreads = settings.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        if (string.Equals(settings.Memory, InferenceMemory.Lean, StringComparison.Ordinal))
        {
            options.EnableCpuMemArena = false;
            _ = InferenceMemory.UseLeanMalloc();
        }

        options.AddSessionConfigEntry("session.intra_op.allow_spinning", settings.AllowSpinning ? "1" : "0");
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", settings.AllowSpinning ? "1" : "0");
        try
        {
            switch (provider)
            {
                case ExecutionProviders.Cuda:
                    options.AppendExecutionProvider_CUDA(0);
                    break;
                case ExecutionProviders.TensorRt:
                    options.AppendExecutionProvider_Tensorrt(0);
                    break;
                case ExecutionProviders.OpenVino:
                    options.AppendExecutionProvider_OpenVINO(string.Empty);
                    break;
            }
        }
        catch
        {
            options.Dispose();
            throw;
        }

        return options;
    }

    private static long[] Fix(string name, int[] dims)
    {
        var shape = new long[dims.Length];
        for (var i = 0; i < dims.Length; i++)
        {
            shape[i] = dims[i] > 0 ? dims[i] : i == 0 ? 1 : throw new NotSupportedException($"Tensor '{name}' has a dynamic dimension {i} ([{string.Join(',', dims)}]); Detektor needs fixed shapes (export the model with a fixed input size).");
        }

        return shape;
    }

    /// <summary>Buffers bound to this session's inputs and outputs (one set per concurrent caller).</summary>
    public SessionBuffers CreateBuffers() => new(this);

    /// <summary>Runs the model on <paramref name="buffers"/>' inputs, writing into its outputs. Thread-safe across buffer sets.</summary>
    public void Run(SessionBuffers buffers) =>
        _session.Run(_runOptions, buffers.InputNames, buffers.InputValues, buffers.OutputNames, buffers.OutputValues);

    private void WarmUp(int runs)
    {
        if (runs <= 0)
        {
            return;
        }

        using var buffers = CreateBuffers();
        for (var i = 0; i < runs; i++)
        {
            Run(buffers);
        }
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _session.Dispose();
    }
}

/// <summary>Preallocated float input and output tensors of a <see cref="ModelSession"/>, pinned as OrtValues.</summary>
public sealed class SessionBuffers : IDisposable
{
    internal SessionBuffers(ModelSession session)
    {
        InputNames = [.. session.Inputs.Select(i => i.Name)];
        OutputNames = [.. session.Outputs.Select(o => o.Name)];
        Inputs = [.. session.Inputs.Select(i => new float[i.ElementCount])];
        Outputs = [.. session.Outputs.Select(o => new float[o.ElementCount])];
        InputValues = [.. session.Inputs.Select((spec, i) => OrtValue.CreateTensorValueFromMemory(Inputs[i], spec.Shape))];
        OutputValues = [.. session.Outputs.Select((spec, i) => OrtValue.CreateTensorValueFromMemory(Outputs[i], spec.Shape))];
    }

    public float[][] Inputs { get; }

    public float[][] Outputs { get; }

    internal string[] InputNames { get; }

    internal string[] OutputNames { get; }

    internal OrtValue[] InputValues { get; }

    internal OrtValue[] OutputValues { get; }

    public void Dispose()
    {
        foreach (var value in InputValues.Concat(OutputValues))
        {
            value.Dispose();
        }
    }
}
