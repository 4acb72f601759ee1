using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Detektor.Core.Frames;
using Detektor.Core.Json;
using Detektor.Core.Lifecycle;
using Detektor.Core.Tracing;

namespace Detektor.Benchmarks;

/// <summary>The frame-tracking primitives, one at a time.</summary>
[MemoryDiagnoser]
public class FrameTrackingBenchmarks
{
    private readonly FrameIdGenerator _ids = new(TimeProvider.System, 0x1234abcd);
    private readonly char[] _chars = new char[128];
    private readonly Dictionary<string, string> _carrier = new(StringComparer.Ordinal);
    private FrameId _id;
    private string _idText = string.Empty;
    private FrameMetadata _metadata = null!;
    private byte[] _metadataJson = [];
    private ActivityContext _context;
    private DateTimeOffset _now;

    [GlobalSetup]
    public void Setup()
    {
        _id = _ids.Next("front-door", 123456);
        _idText = _id.ToString();
        _context = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        _metadata = new FrameMetadata
        {
            FrameId = _id,
            CameraId = "front-door",
            CaptureTime = DateTimeOffset.UtcNow,
            Width = 640,
            Height = 480,
            SizeBytes = 640 * 480 * 3,
            Sequence = 123456,
            Trace = TraceInfo.From(_context),
            MotionScore = 0.02,
        };
        _metadata.Stages.Add(new ProcessingStage { Name = "motion", Service = "detektor", Status = StageStatus.Completed, DurationMs = 0.4 });
        _metadataJson = CoreJson.SerializeToUtf8(_metadata);
        TraceContextPropagation.Inject(_context, _carrier);
        _now = DateTimeOffset.UtcNow;
    }

    [Benchmark]
    public FrameId FrameId_Next() => _ids.Next("front-door", 42);

    [Benchmark]
    public int FrameId_TryFormat()
    {
        _id.TryFormat(_chars, out var written, default, null);
        return written;
    }

    [Benchmark]
    public string FrameId_ToString() => _id.ToString();

    [Benchmark]
    public FrameId FrameId_Parse() => FrameId.Parse(_idText);

    [Benchmark]
    public byte[] Metadata_Serialize() => CoreJson.SerializeToUtf8(_metadata);

    [Benchmark]
    public FrameMetadata Metadata_Deserialize() => CoreJson.DeserializeMetadata(_metadataJson);

    [Benchmark]
    public int TraceContext_Inject()
    {
        _carrier.Clear();
        TraceContextPropagation.Inject(_context, _carrier);
        return _carrier.Count;
    }

    [Benchmark]
    public ActivityContext TraceContext_Extract() => TraceContextPropagation.Extract(_carrier);

    [Benchmark]
    public FrameEvent LifecycleEvent_Create() =>
        FrameEvent.Create(FrameEventType.ProcessingCompleted, _metadata, "sample", "detektor", _now, duration: TimeSpan.FromMilliseconds(1));
}
