using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Core.Journal;
using Detektor.Core.Lifecycle;
using Detektor.Storage.Abstractions;

namespace Detektor.Storage.Writer;

/// <summary>
/// The writer's on-disk journal: batches the database could not take, appended in order to a
/// <see cref="SegmentJournal"/> (segment files, fsynced before anything is acknowledged). Replay reads the oldest
/// segment, and deletes it once every batch in it is committed; a crash mid-replay replays that segment again, which
/// the store's idempotency by event id makes harmless. One record per batch: its events, detections and tracked-object
/// events as UTF-8 JSON. A torn record at the end of the last segment (a crash during an append, never acknowledged)
/// is cut off at open.
/// </summary>
public sealed class EventJournal : IDisposable
{
    public const string Extension = SegmentJournal.Extension;

    private readonly SegmentJournal _journal;

    public EventJournal(string directory, long maxBytes, long segmentBytes = 16 * 1024 * 1024) =>
        _journal = new SegmentJournal(directory, maxBytes, segmentBytes, CountEvents);

    public string DirectoryPath => _journal.DirectoryPath;

    /// <summary>Bytes on disk waiting for replay.</summary>
    public long Bytes => _journal.Bytes;

    /// <summary>Frame and tracked-object events waiting for replay.</summary>
    public long Events => _journal.Items;

    public bool IsEmpty => _journal.IsEmpty;

    /// <summary>Records cut off when the journal was opened (torn or corrupt tails).</summary>
    public int DiscardedAtOpen => _journal.DiscardedAtOpen;

    /// <summary>
    /// Appends batches, in order, as one fsynced write. Returns false, writing nothing, when they would take the journal
    /// past its size bound.
    /// </summary>
    public bool TryAppend(IReadOnlyList<StoreBatch> batches)
    {
        var payloads = new byte[batches.Count][];
        long events = 0;
        for (var i = 0; i < payloads.Length; i++)
        {
            payloads[i] = EncodePayload(batches[i]);
            events += batches[i].Count;
        }

        return _journal.TryAppend(payloads, events);
    }

    /// <summary>
    /// The oldest segment, sealed (appends go to a new one), to replay; null when the journal is empty. Call
    /// <see cref="Complete"/> once all its batches are committed.
    /// </summary>
    public SegmentJournal.Segment? TakeOldest() => _journal.TakeOldest();

    /// <summary>Reads a sealed segment's batches in order (marked as replays).</summary>
    public static IEnumerable<StoreBatch> Read(SegmentJournal.Segment segment)
    {
        foreach (var payload in SegmentJournal.Read(segment))
        {
            yield return Decode(payload) with { Replay = true };
        }
    }

    /// <summary>Counts a replayed batch off the backlog (for health and metrics).</summary>
    public void MarkReplayed(SegmentJournal.Segment segment, StoreBatch batch) => _journal.MarkReplayed(segment, batch.Count);

    /// <summary>Deletes a fully replayed segment.</summary>
    public void Complete(SegmentJournal.Segment segment) => _journal.Complete(segment);

    /// <summary>Moves a segment that cannot be replayed aside (<c>.corrupt</c>), out of the backlog; returns its new path.</summary>
    public string Quarantine(SegmentJournal.Segment segment) => _journal.Quarantine(segment);

    public void Dispose() => _journal.Dispose();

    /// <summary>A batch as one record, header included, as it lies on disk.</summary>
    internal static byte[] Encode(StoreBatch batch) => SegmentJournal.Frame(EncodePayload(batch));

    internal static byte[] EncodePayload(StoreBatch batch)
    {
        var events = new List<JournaledFrameEvent>(batch.Events.Count);
        foreach (var e in batch.Events)
        {
            events.Add(JournaledFrameEvent.From(e));
        }

        return JsonSerializer.SerializeToUtf8Bytes(
            new JournalRecord(events, [.. batch.Detections], [.. batch.TrackEvents]), JournalJsonContext.Default.JournalRecord);
    }

    internal static StoreBatch Decode(ReadOnlySpan<byte> payload)
    {
        var record = JsonSerializer.Deserialize(payload, JournalJsonContext.Default.JournalRecord)
            ?? throw new InvalidDataException("A journal record is empty.");
        var events = new FrameEvent[record.Events.Count];
        for (var i = 0; i < events.Length; i++)
        {
            events[i] = record.Events[i].ToFrameEvent();
        }

        return new StoreBatch(events, record.Detections, record.Tracks);
    }

    private static long CountEvents(byte[] payload)
    {
        try
        {
            return Decode(payload).Count;
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or FormatException)
        {
            return 0;
        }
    }
}

internal sealed record JournalRecord(List<JournaledFrameEvent> Events, List<DetectionRecord> Detections, List<TrackedObjectEvent> Tracks);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(JournalRecord))]
internal sealed partial class JournalJsonContext : JsonSerializerContext;
