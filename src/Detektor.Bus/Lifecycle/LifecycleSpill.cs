using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Bus.Redis;
using Detektor.Core.Journal;
using Detektor.Core.Lifecycle;

namespace Detektor.Bus.Lifecycle;

/// <summary>What <see cref="LifecycleSpill"/> did with an event.</summary>
public enum SpillOutcome
{
    /// <summary>Nothing is spilled: publish the event to the bus.</summary>
    NotSpilling,

    /// <summary>Appended to the spill (fsynced): it is safe, and replayed in order.</summary>
    Spilled,

    /// <summary>The spill is at its bound: the event was not written.</summary>
    Full,
}

/// <summary>
/// Lifecycle events the bus could not take, kept on disk (<see cref="SegmentJournal"/>, one fsynced record per event)
/// until a replayer publishes them in order. Once one event is spilled, every later one is spilled behind it until the
/// replayer has emptied the spill (<see cref="IsSpilling"/>), so the order of each frame's events is the order it was
/// recorded in. A spill left over from an earlier run makes the process start spilling.
/// </summary>
public sealed class LifecycleSpill : IDisposable
{
    private readonly SegmentJournal _journal;
    private readonly FileStream _lock;
    private readonly Lock _gate = new();
    private volatile bool _spilling;
    private volatile bool _full;
    private long _droppedWhenFull;

    public LifecycleSpill(string directory, long maxBytes, bool dropWhenFull)
    {
        Directory.CreateDirectory(directory);
        try
        {
            // One process per spill directory: two would interleave and replay each other's events.
            _lock = new FileStream(System.IO.Path.Combine(directory, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new InvalidOperationException(
                $"The lifecycle spill directory '{directory}' is in use by another process; give each process its own ({LifecycleSpillOptions.SectionName}:Path or --data-dir).", ex);
        }

        _journal = new SegmentJournal(directory, maxBytes, Math.Clamp(maxBytes / 8, 4096, 4 * 1024 * 1024), static _ => 1);
        DropWhenFull = dropWhenFull;
        _spilling = !_journal.IsEmpty;
    }

    public string DirectoryPath => _journal.DirectoryPath;

    /// <summary>True from the first spilled event until the replayer has published the last one.</summary>
    public bool IsSpilling => _spilling;

    /// <summary>True while the spill refuses events at its bound (cleared by the next append that fits).</summary>
    public bool IsFull => _full;

    public bool DropWhenFull { get; }

    public long Events => _journal.Items;

    public long Bytes => _journal.Bytes;

    public long MaxBytes => _journal.MaxBytes;

    /// <summary>Events dropped at the bound (only with <c>WhenFull=drop</c>) since the process started.</summary>
    public long DroppedWhenFull => Interlocked.Read(ref _droppedWhenFull);

    /// <summary>Records cut off at open (a torn or corrupt tail from a crash during an append).</summary>
    public int DiscardedAtOpen => _journal.DiscardedAtOpen;

    /// <summary>Spills <paramref name="e"/> when spilling is on; else leaves it to the caller to publish.</summary>
    public SpillOutcome TryAppendIfSpilling(FrameEvent e)
    {
        if (!_spilling)
        {
            return SpillOutcome.NotSpilling;
        }

        var payload = Encode(e);
        lock (_gate)
        {
            return _spilling ? AppendLocked(payload) : SpillOutcome.NotSpilling;
        }
    }

    /// <summary>Spills <paramref name="e"/> (the bus could not take it) and turns spilling on.</summary>
    public SpillOutcome Append(FrameEvent e)
    {
        var payload = Encode(e);
        lock (_gate)
        {
            _spilling = true;
            return AppendLocked(payload);
        }
    }

    /// <summary>Counts an event dropped at the bound.</summary>
    public void CountDropped() => Interlocked.Increment(ref _droppedWhenFull);

    /// <summary>The oldest segment to replay (sealed), or null when nothing is spilled.</summary>
    public SegmentJournal.Segment? TakeOldest() => _journal.TakeOldest();

    /// <summary>A segment's events in order; throws <see cref="InvalidDataException"/>, <see cref="JsonException"/> or <see cref="FormatException"/> on a record that cannot be read.</summary>
    public static IEnumerable<FrameEvent> Read(SegmentJournal.Segment segment)
    {
        foreach (var payload in SegmentJournal.Read(segment))
        {
            var record = JsonSerializer.Deserialize(payload, SpillJsonContext.Default.JournaledFrameEvent)
                ?? throw new InvalidDataException("A lifecycle spill record is empty.");
            yield return record.ToFrameEvent();
        }
    }

    public void MarkReplayed(SegmentJournal.Segment segment, long events) => _journal.MarkReplayed(segment, events);

    /// <summary>Deletes a replayed segment; when it was the last one, spilling ends. True when the spill is empty now.</summary>
    public bool Complete(SegmentJournal.Segment segment)
    {
        lock (_gate)
        {
            var empty = _journal.Complete(segment);
            _full = false;
            if (empty)
            {
                _spilling = false;
            }

            return empty;
        }
    }

    /// <summary>Moves an unreadable segment aside (<c>.corrupt</c>); returns its new path.</summary>
    public string Quarantine(SegmentJournal.Segment segment)
    {
        lock (_gate)
        {
            var aside = _journal.Quarantine(segment);
            _spilling = !_journal.IsEmpty;
            return aside;
        }
    }

    public void Dispose()
    {
        _journal.Dispose();
        _lock.Dispose();
    }

    private SpillOutcome AppendLocked(byte[] payload)
    {
        if (!_journal.TryAppend([payload], 1))
        {
            _full = true;
            return SpillOutcome.Full;
        }

        _full = false;
        return SpillOutcome.Spilled;
    }

    private static byte[] Encode(FrameEvent e) =>
        JsonSerializer.SerializeToUtf8Bytes(JournaledFrameEvent.From(e), SpillJsonContext.Default.JournaledFrameEvent);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(JournaledFrameEvent))]
internal sealed partial class SpillJsonContext : JsonSerializerContext;
