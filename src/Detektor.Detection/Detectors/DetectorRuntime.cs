using Detektor.Detection.Decoding;
using Detektor.Detection.Inference;
using Detektor.Detection.Models;
using Detektor.Detection.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Detectors;

public enum DetectorState
{
    /// <summary>Turned off by configuration.</summary>
    Disabled,

    /// <summary>Pulling or opening the model.</summary>
    Loading,

    Ready,

    /// <summary>The model could not be had (offline, bad file, …); frames are skipped with <c>detector_unavailable</c>.</summary>
    Unavailable,
}

/// <summary>A detector's state, with the reason when it is not ready.</summary>
public sealed record DetectorStatus(DetectorState State, string? Reason = null, string? Model = null, string? Provider = null);

/// <summary>
/// Owns the process's detectors. On start it pulls missing default models (unless <c>PullOnStart</c> is false) and opens
/// the ONNX sessions in the background, so the host starts at once. Until a detector is ready, or when it cannot be had
/// (registry unreachable, broken file), <see cref="Objects"/>/<see cref="Faces"/> are null, the status says why, one log
/// line says so, and the processors skip frames with <c>detector_unavailable</c>: the pipeline keeps running.
/// </summary>
public sealed class DetectorRuntime : IHostedService, IDisposable
{
    public const string ObjectsName = "objects";
    public const string FacesName = "faces";

    private readonly DetectionOptions _options;
    private readonly ModelStore _store;
    private readonly Uri _registry;
    private readonly TimeProvider _time;
    private readonly ILogger<DetectorRuntime> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loading = Task.CompletedTask;

    public DetectorRuntime(IOptions<DetectionOptions> options, IConfiguration configuration, TimeProvider time, DetectionTelemetry telemetry, ILogger<DetectorRuntime> logger)
    {
        _options = options.Value;
        _store = new ModelStore(ResolveModelsDirectory(_options, configuration));
        _registry = new Uri(_options.RegistryUrl);
        _time = time;
        _logger = logger;
        ObjectsStatus = new DetectorStatus(_options.Enabled ? DetectorState.Loading : DetectorState.Disabled);
        FacesStatus = new DetectorStatus(_options.Enabled && _options.FacesEnabled ? DetectorState.Loading : DetectorState.Disabled);
        var (lanes, intraOpThreads) = ResolveParallelism(_options, configuration, Environment.ProcessorCount);
        var nice = _options.InferenceNice;
        Lanes = new InferenceLanes(lanes, nice, niceRefused: () => Log.NiceRefused(logger, nice));
        telemetry.ObserveInferencePending(() => Lanes.Pending);
        Settings = new InferenceSettings
        {
            IntraOpThreads = intraOpThreads,
            ExecutionProviders = _options.EffectiveProviders,
            WarmupRuns = _options.WarmupRuns,
            AllowSpinning = _options.AllowSpinning,
            Memory = _options.InferenceMemory,
        };
    }

    public ObjectDetector? Objects { get; private set; }

    public FaceDetector? Faces { get; private set; }

    public DetectorStatus ObjectsStatus { get; private set; }

    public DetectorStatus FacesStatus { get; private set; }

    public InferenceSettings Settings { get; }

    /// <summary>Where every inference of this process runs (processors and the inference API alike).</summary>
    public InferenceLanes Lanes { get; }

    public ModelStore Store => _store;

    /// <summary>Completes when loading has finished, whatever its outcome.</summary>
    public Task WhenLoaded => _ready.Task;

    /// <summary>
    /// How many inferences run at once (the lanes) and with how many ONNX Runtime threads each. Lanes: <c>InferenceConcurrency</c>
    /// when set; else as many as the cores hold (the cores ÷ <c>IntraOpThreads</c> when that is set, else one per core), never
    /// more than the processing consumers. Threads: <c>IntraOpThreads</c> when set; else the cores shared among the lanes.
    /// Measured on the 2-core reference machine (docs/performance.md): 2 × 1 thread 41 detections/s, 1 × 2 threads 31/s;
    /// more threads than cores lose. So 2 cores give 2 lanes of 1 thread whatever <c>Processing:Concurrency</c> above 2 is.
    /// </summary>
    public static (int Lanes, int IntraOpThreads) ResolveParallelism(DetectionOptions options, IConfiguration configuration, int cores)
    {
        cores = Math.Max(1, cores);
        var consumers = Math.Max(1, configuration.GetValue("Detektor:Processing:Concurrency", 2));
        var lanes = options.InferenceConcurrency > 0
            ? options.InferenceConcurrency
            : Math.Clamp(options.IntraOpThreads > 0 ? cores / options.IntraOpThreads : cores, 1, consumers);
        var threads = options.IntraOpThreads > 0 ? options.IntraOpThreads : Math.Max(1, cores / lanes);
        return (lanes, threads);
    }

    /// <summary><c>Detektor:Detection:ModelsDirectory</c>, else <c>{Detektor:DataDir}/models</c>, else <c>data/models</c>.</summary>
    public static string ResolveModelsDirectory(DetectionOptions options, IConfiguration configuration) =>
        Path.GetFullPath(options.ModelsDirectory ?? Path.Combine(configuration["Detektor:DataDir"] ?? "data", "models"));

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            _ready.TrySetResult();
            return Task.CompletedTask;
        }

        _loading = Task.Run(() => LoadAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _loading.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var objectsPath = await ResolveAsync(ObjectsName, _options.ObjectModel == DetectionOptions.DefaultObjectModel ? ModelCatalog.CenterNetModel : null, _options.ObjectModel, cancellationToken);
            if (objectsPath is not null)
            {
                try
                {
                    var labels = string.IsNullOrEmpty(_options.LabelsFile) ? null : LabelSet.Load(_options.LabelsFile);
                    var kind = Enum.Parse<ObjectModelKind>(_options.ObjectModelLayout, ignoreCase: true);
                    Objects = ObjectDetector.Open(objectsPath, kind, labels, Settings, _logger);
                    ObjectsStatus = new DetectorStatus(DetectorState.Ready, null, Objects.ModelName, Objects.Provider);
                    LogReady(ObjectsName, Objects);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    ObjectsStatus = Unavailable(ObjectsName, $"cannot open {objectsPath}: {ex.Message}");
                }
            }

            if (FacesStatus.State == DetectorState.Disabled)
            {
                return;
            }

            var facesPath = await ResolveAsync(FacesName, _options.FaceModel is DetectionOptions.DefaultFaceModel or DetectionOptions.FrontFaceModel ? ModelCatalog.BlazeFaceModel : null, _options.FaceModel, cancellationToken);
            if (facesPath is not null)
            {
                if (_options.FaceModel == DetectionOptions.FrontFaceModel)
                {
                    facesPath = _store.FilePath(ModelCatalog.BlazeFaceModel, ModelCatalog.BlazeFaceFrontFile);
                }

                try
                {
                    Faces = FaceDetector.Open(facesPath, Settings, _logger);
                    FacesStatus = new DetectorStatus(DetectorState.Ready, null, Faces.ModelName, Faces.Provider);
                    LogReady(FacesName, Faces);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    FacesStatus = Unavailable(FacesName, $"cannot open {facesPath}: {ex.Message}");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _ready.TrySetResult();
        }
    }

    /// <summary>The ONNX path to open: a default model from the cache (pulled when missing) or the configured file.</summary>
    private async Task<string?> ResolveAsync(string detector, DefaultModel? model, string configured, CancellationToken cancellationToken)
    {
        if (model is null)
        {
            return configured;
        }

        if (_store.Verify(model) is not null)
        {
            return _store.OnnxPath(model);
        }

        if (!_options.PullOnStart)
        {
            SetUnavailable(detector, $"model '{model.Id}' is not installed in {_store.Directory}; run 'detektor models pull'");
            return null;
        }

        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(15) })
            {
                Timeout = TimeSpan.FromSeconds(_options.PullTimeoutSeconds),
            };
            var puller = new ModelPuller(http, _store, _registry, _time, _logger);
            var result = await puller.PullAsync(model, progress: null, force: false, cancellationToken);
            var outcome = result.Outcome.ToString();
            Log.ModelPulled(_logger, model.Id, outcome);
            return result.OnnxPath;
        }
        catch (ModelPullException ex)
        {
            SetUnavailable(detector, $"model '{model.Id}' could not be pulled: {ex.Message}");
            return null;
        }
        catch (IOException ex)
        {
            SetUnavailable(detector, $"model '{model.Id}' could not be stored in {_store.Directory}: {ex.Message}");
            return null;
        }
    }

    private void SetUnavailable(string detector, string reason)
    {
        var status = Unavailable(detector, reason);
        if (detector == ObjectsName)
        {
            ObjectsStatus = status;
        }
        else
        {
            FacesStatus = status;
        }
    }

    private DetectorStatus Unavailable(string detector, string reason)
    {
        Log.DetectorUnavailable(_logger, detector, reason);
        return new DetectorStatus(DetectorState.Unavailable, reason);
    }

    private void LogReady(string detector, OnnxDetector onnx)
    {
        var input = onnx.Session.Inputs[0].ToString();
        Log.DetectorReady(_logger, detector, onnx.ModelName, input, onnx.Provider);
    }

    public void Dispose()
    {
        _stopping.Dispose();
        Lanes.Dispose();
        Objects?.Dispose();
        Faces?.Dispose();
    }
}
