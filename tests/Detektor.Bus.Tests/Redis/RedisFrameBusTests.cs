using System.Diagnostics;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Redis;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Tracing;
using Detektor.Testing;
using StackExchange.Redis;
using static Detektor.Bus.Tests.TestFrames;

namespace Detektor.Bus.Tests.Redis;

/// <summary>What only the Redis transport has: the wire format, size limit, JPEG, trimming of held frames, routing.</summary>
public sealed class RedisFrameBusTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private async Task<(BusHost Host, RedisServer Server, string Prefix)> StartAsync(Dictionary<string, string?>? extra = null)
    {
        var server = await redis.ServerAsync();
        var prefix = RedisFixture.UniquePrefix();
        var settings = BusHost.RedisSettings(server, prefix);
        settings["Detektor:Bus:ClaimIdleMs"] = "500";
        settings["Detektor:Bus:Backpressure:Enabled"] = "false";
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        return (await BusHost.StartAsync(settings), server, prefix);
    }

    [Fact]
    public async Task Publish_Frame_StreamEntryHasTheDocumentedFields()
    {
        var (host, server, prefix) = await StartAsync();
        await using var _ = host;
        var frame = Frame("cam1", 3);
        var metadata = frame.Metadata;

        await host.Bus.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);

        await using var mux = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        var db = mux.GetDatabase();
        var entry = Assert.Single(await db.StreamRangeAsync(prefix + "frames"));
        var fields = entry.Values.ToDictionary(v => (string)v.Name!, v => v.Value);
        Assert.Equal(
            ["camera_id", "encoding", "enqueued_at", "frame_id", "height", "kind", "meta", "pixel_format", "pixels", "producer", "traceparent", "tracestate", "v", "width"],
            fields.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("1", (string?)fields["v"]);
        Assert.Equal("frame", (string?)fields["kind"]);
        Assert.Equal(metadata.FrameId.ToString(), (string?)fields["frame_id"]);
        Assert.Equal("raw", (string?)fields["encoding"]);
        Assert.Equal("rgb24", (string?)fields["pixel_format"]);
        Assert.Equal(TraceContextPropagation.ToTraceParent(metadata.Trace.ToActivityContext()), (string?)fields["traceparent"]);
        Assert.Equal("vendor=detektor", (string?)fields["tracestate"]);
        Assert.Equal(ExpectedPixels(3), (byte[]?)fields["pixels"]);
        Assert.Equal(metadata, Core.Json.CoreJson.DeserializeMetadata((string)fields["meta"]!));
        var index = Assert.Single(await db.StreamRangeAsync(prefix + "frames:index"));
        Assert.Equal(entry.Id, index.Id);
        var groups = await db.StreamGroupInfoAsync(prefix + "frames");
        Assert.Equal("processors", Assert.Single(groups).Name);
    }

    [Fact]
    public async Task Publish_ExternalFrameWithOnlyTheTraceHeader_ConsumerTakesTheTraceFromTheHeader()
    {
        var (host, server, prefix) = await StartAsync(new() { ["Detektor:Bus:Redis:PixelEncoding"] = "none" });
        await using var _ = host;
        await using var consumer = host.Bus.Subscribe(Topics.Frames, "processors", "c1");
        var frame = Frame("cam1", 1);
        var metadata = frame.Metadata;
        var traceId = ActivityTraceId.CreateRandom();
        var spanId = ActivitySpanId.CreateRandom();
        var body = Core.Json.CoreJson.Serialize(new FrameMetadata
        {
            FrameId = metadata.FrameId, CameraId = "cam1", CaptureTime = metadata.CaptureTime, Width = 64, Height = 48, Sequence = 1,
        });

        // What a processor in another language would write (docs/bus.md), through the documented publish script.
        await using var mux = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        var traceParent = $"00-{traceId.ToHexString()}-{spanId.ToHexString()}-01";
        RedisValue[] fields = ["v", "1", "kind", "frame", "frame_id", metadata.FrameId.ToString(), "camera_id", "cam1", "traceparent", traceParent,
            "enqueued_at", "1795000000000", "producer", "python/1", "meta", body, "encoding", "none"];
        await mux.GetDatabase().ScriptEvaluateAsync(
            RedisScripts.PublishFrame,
            [prefix + "frames", prefix + "frames:index", prefix + "frames:orphans", prefix + "trimmed", prefix + "stats:topic:frames"],
            [64, metadata.FrameId.ToString(), "cam1", traceParent, .. fields]);
        var got = Assert.Single(await ReadAsync(consumer, 1)).Message;

        Assert.Equal(traceId, got.Metadata.Trace.TraceId);
        Assert.Equal(spanId, got.Metadata.Trace.SpanId);
        Assert.Null(got.Pixels);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1795000000000), got.EnqueuedAt);
    }

    [Fact]
    public async Task Publish_FrameLargerThanTheLimit_DroppedTooLargeAndCounted()
    {
        var (host, _, _) = await StartAsync(new() { ["Detektor:Bus:Redis:MaxMessageBytes"] = "4096" });
        await using var _ = host;
        await using var lifecycle = host.Bus.Subscribe(Topics.Lifecycle, "store", "s1");
        var frame = Frame("cam1", 1);

        await host.Bus.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);

        var dropped = Assert.Single(await ReadAsync(lifecycle, 1)).Message;
        Assert.Equal(FrameEventType.Dropped, dropped.Type);
        Assert.Equal(DropReasons.TooLarge, dropped.Reason);
        Assert.Equal(frame.Metadata.FrameId, dropped.FrameId);
        Assert.Null(frame.Pixels); // released by the bus
        var snapshot = await host.Bus.GetSnapshotAsync(TestContext.Current.CancellationToken);
        var frames = snapshot.Topics.Single(t => t.Name == Topics.Frames.Name);
        Assert.Equal(1, frames.DroppedByReason[DropReasons.TooLarge]);
        Assert.Equal(0, frames.Length);
        Assert.Contains(snapshot.Drops, d => d is { Stage: Stages.Bus, Reason: DropReasons.TooLarge, Count: 1 });
    }

    [Fact]
    public async Task Publish_JpegEncoding_SmallerMessageAndPixelsCloseToTheOriginal()
    {
        var (host, server, prefix) = await StartAsync(new() { ["Detektor:Bus:Redis:PixelEncoding"] = "jpeg", ["Detektor:Bus:Redis:JpegQuality"] = "90" });
        await using var _ = host;
        await using var consumer = host.Bus.Subscribe(Topics.Frames, "processors", "c1");
        var template = Frame("cam1", 1);
        var pixels = Gradient();

        await host.Bus.PublishAsync(Topics.Frames, new FrameMessage(template.Metadata, FrameBuffer.Wrap(pixels)), TestContext.Current.CancellationToken);
        var got = Assert.Single(await ReadAsync(consumer, 1)).Message;

        await using var mux = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        var entry = Assert.Single(await mux.GetDatabase().StreamRangeAsync(prefix + "frames"));
        var wire = (byte[])entry.Values.Single(v => v.Name == "pixels").Value!;
        Assert.Equal("jpeg", (string?)entry.Values.Single(v => v.Name == "encoding").Value);
        Assert.True(wire.Length < pixels.Length / 2, $"JPEG of a smooth 64x48 frame: {wire.Length} bytes vs {pixels.Length} raw");
        var decoded = got.Pixels!.Span;
        Assert.Equal(pixels.Length, decoded.Length);
        var error = MeanAbsoluteError(pixels, decoded);
        Assert.True(error < 4, $"mean absolute error {error:0.00}");
    }

    [Fact]
    public async Task Publish_JpegEncodingOfAYuv420pFrame_ArrivesAsYuv420pCloseToTheOriginal()
    {
        var (host, _, _) = await StartAsync(new() { ["Detektor:Bus:Redis:PixelEncoding"] = "jpeg", ["Detektor:Bus:Redis:JpegQuality"] = "90" });
        await using var _ = host;
        await using var consumer = host.Bus.Subscribe(Topics.Frames, "processors", "c1");
        var template = Frame("cam1", 1).Metadata;
        var rgb = Gradient();
        var yuv = new byte[PixelFormats.FrameBytes(PixelFormats.Yuv420p, Width, Height)];
        Imaging.Yuv420p.FromRgb24(rgb, Width, Height, yuv);
        var metadata = new FrameMetadata
        {
            FrameId = template.FrameId, CameraId = template.CameraId, CaptureTime = template.CaptureTime, Width = Width, Height = Height,
            PixelFormat = PixelFormats.Yuv420p, SizeBytes = yuv.Length, Sequence = 1, Trace = template.Trace,
        };

        await host.Bus.PublishAsync(Topics.Frames, new FrameMessage(metadata, FrameBuffer.Wrap(yuv)), TestContext.Current.CancellationToken);
        var got = Assert.Single(await ReadAsync(consumer, 1)).Message;

        Assert.Equal(PixelFormats.Yuv420p, got.Metadata.PixelFormat);
        var decoded = got.Pixels!.Span;
        Assert.Equal(yuv.Length, decoded.Length);
        var error = MeanAbsoluteError(yuv, decoded);
        Assert.True(error < 3, $"mean absolute error {error:0.00}");
    }

    /// <summary>A smooth 64x48 rgb24 gradient (JPEG keeps it close).</summary>
    private static byte[] Gradient()
    {
        var pixels = new byte[Width * Height * 3];
        for (var i = 0; i < pixels.Length; i += 3)
        {
            var (x, y) = ((i / 3) % Width, (i / 3) / Width);
            (pixels[i], pixels[i + 1], pixels[i + 2]) = ((byte)(x * 4), (byte)(y * 5), 128);
        }

        return pixels;
    }

    private static double MeanAbsoluteError(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual)
    {
        var error = 0L;
        for (var i = 0; i < expected.Length; i++)
        {
            error += Math.Abs(expected[i] - actual[i]);
        }

        return error / (double)expected.Length;
    }

    [Fact]
    public async Task Publish_TrimsFramesAConsumerHeldWhenItDied_TheyAreRecordedDroppedWhenReclaimed()
    {
        var (host, _, _) = await StartAsync(new() { ["Detektor:Bus:FramesCapacity"] = "4" });
        await using var _ = host;
        var bus = host.Bus;
        await using var lifecycle = bus.Subscribe(Topics.Lifecycle, "store", "s1");
        var dead = bus.Subscribe(Topics.Frames, "processors", "dead"); // reads, then its process "dies" (no ack, no dispose)
        var published = new List<FrameId>();
        for (var i = 1; i <= 3; i++)
        {
            var frame = Frame("cam1", i);
            published.Add(frame.Metadata.FrameId);
            await bus.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);
        }

        var held = await ReadAsync(dead, 3);
        for (var i = 4; i <= 12; i++)
        {
            var frame = Frame("cam1", i);
            published.Add(frame.Metadata.FrameId);
            await bus.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);
        }

        // The survivor reads the 4 frames left; reclaiming finds the dead consumer's 3 frames trimmed.
        await using var survivor = bus.Subscribe(Topics.Frames, "processors", "survivor");
        var processed = await ReadAsync(survivor, 4);
        await survivor.AckAsync(processed, TestContext.Current.CancellationToken);
        var more = ReadForAsync(survivor, TimeSpan.FromSeconds(3)); // it keeps reading, as a processor does
        var drops = await ReadAsync(lifecycle, 8);
        await lifecycle.AckAsync(drops, TestContext.Current.CancellationToken);

        var dropped = drops.Select(d => d.Message).ToList();
        Assert.Equal(published.TakeLast(4), processed.Select(d => d.Message.Metadata.FrameId));
        Assert.Equal(published.Take(8).Order(), dropped.Select(e => e.FrameId).Order());
        Assert.All(dropped, e => Assert.Equal(DropReasons.QueueFull, e.Reason));
        Assert.Equal(
            held.Select(d => d.Message.Metadata.FrameId).Order(),
            dropped.Where(e => e.Data!.Contains("\"state\":\"pending\"", StringComparison.Ordinal)).Select(e => e.FrameId).Order());
        Assert.Empty(await ReadForAsync(lifecycle, TimeSpan.FromSeconds(1)));
        Assert.Empty(await more);
        var snapshot = await bus.GetSnapshotAsync(TestContext.Current.CancellationToken);
        Assert.Equal(8, snapshot.Topics.Single(t => t.Name == "frames").DroppedByReason[DropReasons.QueueFull]);
        Assert.Equal(0, snapshot.Topics.Single(t => t.Name == "frames").InFlight);
    }

    [Fact]
    public async Task Ack_FramesTrimmedWhileHeld_ForgetsTheirOrphanRecords_AndAckWithoutAnyLeavesNoHash()
    {
        var (host, server, prefix) = await StartAsync(new() { ["Detektor:Bus:FramesCapacity"] = "4" });
        await using var _ = host;
        var bus = host.Bus;
        await using var mux = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        var db = mux.GetDatabase();
        await using var slow = bus.Subscribe(Topics.Frames, "processors", "slow");
        for (var i = 1; i <= 3; i++)
        {
            await bus.PublishAsync(Topics.Frames, Frame("cam1", i), TestContext.Current.CancellationToken);
        }

        // Acknowledged while nothing was orphaned: the orphans hash is never created.
        var first = await ReadAsync(slow, 1);
        await slow.AckAsync(first, TestContext.Current.CancellationToken);
        Assert.False(await db.KeyExistsAsync(prefix + "frames:orphans"));

        // Two frames held while later frames trim them: each is remembered as an orphan until it is acknowledged.
        var held = await ReadAsync(slow, 2);
        for (var i = 4; i <= 12; i++)
        {
            await bus.PublishAsync(Topics.Frames, Frame("cam1", i), TestContext.Current.CancellationToken);
        }

        Assert.Equal(
            held.Select(d => (RedisValue)$"processors {d.Id}").Order(),
            (await db.HashKeysAsync(prefix + "frames:orphans")).Order());
        await db.HashSetAsync(prefix + "frames:orphans", "other-group 1-1", "kept"); // another group's record stays
        await slow.AckAsync(held, TestContext.Current.CancellationToken);

        Assert.Equal(["other-group 1-1"], (await db.HashKeysAsync(prefix + "frames:orphans")).Select(k => k.ToString()));
        held.ForEach(d => d.Message.Release());
        first.ForEach(d => d.Message.Release());
    }

    [Fact]
    public async Task Read_FullBatchOfADurableTopic_AsksForTheNextAtOnceAndDisposeHandsItBack()
    {
        // A claim idle time far longer than the test: only the hand-back on dispose can give the read-ahead to another consumer.
        var (host, server, prefix) = await StartAsync(new() { ["Detektor:Bus:ClaimIdleMs"] = "600000" });
        await using var _ = host;
        var bus = host.Bus;
        var published = new List<Guid>();
        for (var i = 1; i <= 25; i++)
        {
            var frameEvent = Event(Frame("cam1", i));
            published.Add(frameEvent.EventId);
            await bus.PublishAsync(Topics.Lifecycle, frameEvent, TestContext.Current.CancellationToken);
        }

        var first = bus.Subscribe(Topics.Lifecycle, "store", "a");
        var batch = new List<BusDelivery<FrameEvent>>();
        Assert.Equal(10, await first.ReadAsync(batch, 10, TestContext.Current.CancellationToken));

        // The batch was full: the next ten are delivered to this consumer before it asks (20 pending: 10 held, 10 read ahead).
        await using var mux = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        var db = mux.GetDatabase();
        await Eventually.WaitAsync(async () => (await db.StreamPendingAsync(prefix + "lifecycle", "store")).PendingMessageCount, n => n == 20, TimeSpan.FromSeconds(30), "the read-ahead delivered");
        await first.AckAsync(batch, TestContext.Current.CancellationToken);
        await first.DisposeAsync();

        await using var second = bus.Subscribe(Topics.Lifecycle, "store", "b");
        var rest = await ReadAsync(second, 15, TimeSpan.FromSeconds(20));
        Assert.Equal(published[..10], batch.Select(d => d.Message.EventId));
        Assert.Equal(published[10..].Order(), rest.Select(d => d.Message.EventId).Order());
    }

    [Fact]
    public async Task Monitor_LifecycleConsumed_TrimmedOnlyPastWhatTheStoreAcknowledged()
    {
        var (host, server, prefix) = await StartAsync();
        await using var _ = host;
        var bus = host.Bus;
        for (var i = 1; i <= 30; i++)
        {
            await bus.PublishAsync(Topics.Lifecycle, Event(Frame("cam1", i)), TestContext.Current.CancellationToken);
        }

        await using var store = bus.Subscribe(Topics.Lifecycle, "store", "s1");
        var read = await ReadAsync(store, 30);
        await store.AckAsync(read.Take(10).ToList(), TestContext.Current.CancellationToken);
        await using var mux = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        var db = mux.GetDatabase();

        // Trimming runs every tenth monitor tick and may keep a little more (MINID ~), never less than the unacknowledged.
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        var left = await db.StreamRangeAsync(prefix + "lifecycle");
        Assert.Superset(read.Skip(10).Select(d => d.Id).ToHashSet(), left.Select(e => (string)e.Id!).ToHashSet());
        Assert.True(left.Length >= 20);

        await store.AckAsync(read.Skip(10).ToList(), TestContext.Current.CancellationToken);
        await Eventually.WaitAsync(async () => await db.StreamLengthAsync(prefix + "lifecycle"), n => n < 30, TimeSpan.FromSeconds(30), "the acknowledged events trimmed");
    }

    [Fact]
    public async Task Publish_RoutedCamera_GoesToItsCapabilityTopicOrIsDroppedWithoutAProcessor()
    {
        var (host, _, _) = await StartAsync(new() { ["Detektor:Bus:Routes:door"] = "faces" });
        await using var _ = host;
        var bus = host.Bus;
        await using var lifecycle = bus.Subscribe(Topics.Lifecycle, "store", "s1");

        // No processor announces "faces": the frame is dropped at once rather than left to go stale.
        await bus.PublishAsync(Topics.Frames, Frame("door", 1), TestContext.Current.CancellationToken);
        var unroutable = Assert.Single(await ReadAsync(lifecycle, 1)).Message;
        Assert.Equal(BusDropReasons.NoProcessor, unroutable.Reason);

        await host.Registry.RegisterAsync(
            new Detektor.Bus.Registry.ProcessorRegistration("face-1", "detektor-process", "bus", ["faces"], 2, "processors"), TestContext.Current.CancellationToken);
        await Eventually.WaitAsync(
            async () =>
            {
                var frame = Frame("door", 2);
                await bus.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);
                return (await bus.GetSnapshotAsync(TestContext.Current.CancellationToken)).Topics.SingleOrDefault(t => t.Name == "frames.faces")?.Published ?? 0;
            },
            n => n > 0,
            TimeSpan.FromSeconds(30),
            "a door frame on frames.faces");
        await bus.PublishAsync(Topics.Frames, Frame("yard", 1), TestContext.Current.CancellationToken);

        var snapshot = await bus.GetSnapshotAsync(TestContext.Current.CancellationToken);
        Assert.Equal(1, snapshot.Topics.Single(t => t.Name == "frames").Published);
    }
}
