using System.Diagnostics;
using System.Text.Json;
using Detektor.Core.Frames;
using Detektor.Core.Json;
using Detektor.Core.Messages;
using Detektor.Core.Tracing;

namespace Detektor.Core.Tests.Frames;

public class FrameMetadataTests
{
    private static FrameMetadata Sample()
    {
        var id = new FrameIdGenerator(TimeProvider.System, 7).Next("front", 12);
        return new FrameMetadata
        {
            FrameId = id,
            CameraId = "front",
            CaptureTime = new DateTimeOffset(2026, 11, 23, 10, 0, 0, 123, TimeSpan.FromHours(1)).AddTicks(4567),
            Width = 640,
            Height = 480,
            PixelFormat = PixelFormats.Rgb24,
            SizeBytes = 640 * 480 * 3,
            Sequence = 12,
            MotionScore = 0.125,
            MotionBoxes = [new BoundingBox(16, 32, 128.5f, 96), new BoundingBox(320, 240, 64, 48)],
            Trace = new TraceInfo(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, "vendor=a"),
            Stages =
            [
                new ProcessingStage
                {
                    Name = "motion", Service = "detektor-process", Status = StageStatus.Completed,
                    Started = DateTimeOffset.UnixEpoch.AddDays(20000), Completed = DateTimeOffset.UnixEpoch.AddDays(20000).AddMilliseconds(3.25), DurationMs = 3.25,
                },
                new ProcessingStage { Name = "objects", Service = "detektor-process", Status = StageStatus.Failed, Error = "timed out" },
            ],
            Tags = { ["site"] = "home", ["brightness"] = "120.5" },
        };
    }

    [Fact]
    public void Json_RoundTrip_GivesEqualValue()
    {
        var sut = Sample();

        var json = CoreJson.Serialize(sut);
        var back = CoreJson.DeserializeMetadata(json);

        Assert.Equal(sut, back);
        Assert.NotSame(sut, back);
    }

    [Fact]
    public void Json_UsesSnakeCaseAndWireNames()
    {
        using var doc = JsonDocument.Parse(CoreJson.Serialize(Sample()));
        var root = doc.RootElement;

        Assert.Equal(FrameMetadata.CurrentSchemaVersion, root.GetProperty("schema_version").GetInt32());
        Assert.Equal("front", root.GetProperty("camera_id").GetString());
        Assert.Equal(32, root.GetProperty("trace").GetProperty("trace_id").GetString()!.Length);
        Assert.Equal("completed", root.GetProperty("stages")[0].GetProperty("status").GetString());
        Assert.True(FrameId.TryParse(root.GetProperty("frame_id").GetString(), out _));
    }

    [Fact]
    public void Json_UnknownFields_AreIgnored()
    {
        var json = CoreJson.Serialize(Sample());
        var withExtras = json.Insert(1, "\"from_the_future\":{\"x\":[1,2,3]},\"another\":\"y\",");

        var back = CoreJson.DeserializeMetadata(withExtras);

        Assert.Equal(Sample().CameraId, back.CameraId);
        Assert.Equal(2, back.Stages.Count);
    }

    [Fact]
    public void Equals_DifferentTag_NotEqual()
    {
        var a = Sample();
        var b = CoreJson.DeserializeMetadata(CoreJson.Serialize(a));
        b.Tags["site"] = "office";

        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Json_MotionBoxes_RoundTripAsSnakeCaseObjects()
    {
        var sut = Sample();

        using var doc = JsonDocument.Parse(CoreJson.Serialize(sut));
        var boxes = doc.RootElement.GetProperty("motion_boxes");

        Assert.Equal(2, boxes.GetArrayLength());
        Assert.Equal(128.5, boxes[0].GetProperty("width").GetDouble());
        Assert.Equal(240, boxes[1].GetProperty("y").GetDouble());
        Assert.Equal(sut.MotionBoxes, CoreJson.DeserializeMetadata(CoreJson.Serialize(sut)).MotionBoxes);
    }

    [Fact]
    public void Equals_DifferentMotionBox_NotEqual()
    {
        var a = Sample();
        var b = CoreJson.DeserializeMetadata(CoreJson.Serialize(a));
        b.MotionBoxes![1] = new BoundingBox(320, 240, 64, 49);

        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Json_NoMotionBoxes_FieldLeftOutAndReadBackAsNull()
    {
        var sut = Sample();
        sut.MotionBoxes = null;

        var json = CoreJson.Serialize(sut);

        Assert.DoesNotContain("motion_boxes", json, StringComparison.Ordinal);
        Assert.Null(CoreJson.DeserializeMetadata(json).MotionBoxes);
        Assert.Equal(sut, CoreJson.DeserializeMetadata(json));
    }

    [Fact]
    public void Json_BadFrameId_FailsWithReason()
    {
        var json = CoreJson.Serialize(Sample());
        var id = JsonDocument.Parse(json).RootElement.GetProperty("frame_id").GetString()!;

        var ex = Assert.Throws<JsonException>(() => CoreJson.DeserializeMetadata(json.Replace(id, "nope", StringComparison.Ordinal)));

        Assert.Contains("Invalid frame id", ex.Message, StringComparison.Ordinal);
    }
}
