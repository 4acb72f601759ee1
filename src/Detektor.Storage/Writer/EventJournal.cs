using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Storage.Abstractions;

namespace Detektor.Storage.Writer;

/// <summary>
/// The writer's on-disk journal: batches the database could not take, appended in order to segment files
/// (<c>journal-000000000001.dkj</c>, …) and fsynced before anything is acknowledged. Replay reads the oldest segment,
/// and deletes it once every batch in it is committed; a crash mid-replay replays that segment again, which the store's
/// idempotency by event id makes harmless.
/// <para>Record: magic <c>DKJ1</c>, payload length (uint32 LE), CRC-32 of the payload (uint32 LE), payload (UTF-8 JSON).
/// A torn record at the end of the last segment (a crash during an append, never acknowledged) is cut off at open.</para>
/// </summary>
public sealed partial class EventJournal : IDisposable
{
    public const string Extension = ".dkj";
    private const uint Magic = 0x314A4B44; // "DKJ1" little-endian
    private const int HeaderLength = 12;
    private const int MaxRecordBytes = 256 * 1024 * 1024;

    private readonly object _gate = new();
    private readonly string _directory;
    private readonly long _maxBytes;
    private readonly long _segmentBytes;
    private readonly LinkedList<Segment> _segments = new();
    private FileStream? _active;
    private Segment? _activeSegment;
    private long _nextSequence = 1;
    private long _bytes;
    private long _events;

    public EventJournal(string directory, long maxBytes, long segmentBytes = 16 * 1024 * 1024)
    {
        _directory = Path.GetFullPath(directory);
        _maxBytes = maxBytes;
        _segmentBytes = segmentBytes;
        Directory.CreateDirectory(_directory);
        Open();
    }

    public string DirectoryPath => _directory;

    /// <summary>Bytes on disk waiting for replay.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Frame and tracked-object events waiting for replay.</summary>
    public long Events => Interlocked.Read(ref _events);

    public bool IsEmpty
    {
        get
        {
            lock (_gate)
            {
                return _segments.Count == 0;
            }
        }
    }

    /// <summary>Records cut off when the journal was opened (torn or corrupt tails).</summary>
    public int DiscardedAtOpen { get; private set; }

    /// <summary>
    /// Appends batches, in order, as one fsynced write. Returns false, writing nothing, when they would take the journal
    /// past its size bound.
    /// </summary>
    public bool TryAppend(IReadOnlyList<StoreBatch> batches)
    {
        var records = new List<byte[]>(batches.Count);
        long size = 0;
        long events = 0;
        foreach (var batch in batches)
        {
            var record = Encode(batch);
            records.Add(record);
            size += record.Length;
            events += batch.Count;
        }

        lock (_gate)
        {
            if (_bytes + size > _maxBytes && _bytes > 0)
            {
                return false;
            }

            var created = false;
            if (_active is null || _activeSegment!.Bytes >= _segmentBytes)
            {
                SealLocked();
                var path = Path.Combine(_directory, $"journal-{_nextSequence++.ToString("D12", CultureInfo.InvariantCulture)}{Extension}");
                _active = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 64 * 1024);
                _activeSegment = new Segment(path);
                _segments.AddLast(_activeSegment);
                created = true;
            }

            foreach (var record in records)
            {
                _active.Write(record);
            }

            _active.Flush(flushToDisk: true);
            if (created)
            {
                SyncDirectory(_directory); // the new file's name must be durable too
            }

            _activeSegment.Bytes += size;
            _activeSegment.Events += events;
            Interlocked.Add(ref _bytes, size);
            Interlocked.Add(ref _events, events);
            return true;
        }
    }

    /// <summary>
    /// The oldest segment, sealed (appends go to a new one), to replay; null when the journal is empty. Call
    /// <see cref="Complete"/> once all its batches are committed.
    /// </summary>
    public Segment? TakeOldest()
    {
        lock (_gate)
        {
            var first = _segments.First?.Value;
            if (first is not null && ReferenceEquals(first, _activeSegment))
            {
                SealLocked();
            }

            return first;
        }
    }

    /// <summary>Reads a sealed segment's batches in order (marked as replays).</summary>
    public static IEnumerable<StoreBatch> Read(Segment segment)
    {
        using var stream = new FileStream(segment.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024);
        while (TryReadRecord(stream, out var payload) == RecordStatus.Ok)
        {
            yield return Decode(payload) with { Replay = true };
        }
    }

    /// <summary>Counts a replayed batch off the backlog (for health and metrics).</summary>
    public void MarkReplayed(Segment segment, StoreBatch batch)
    {
        lock (_gate)
        {
            var n = Math.Min(batch.Count, segment.Events);
            segment.Events -= n;
            Interlocked.Add(ref _events, -n);
        }
    }

    /// <summary>Deletes a fully replayed segment.</summary>
    public void Complete(Segment segment)
    {
        lock (_gate)
        {
            File.Delete(segment.Path);
            _segments.Remove(segment);
            Interlocked.Add(ref _bytes, -segment.Bytes);
            Interlocked.Add(ref _events, -segment.Events);
        }
    }

    /// <summary>Moves a segment that cannot be replayed aside (<c>.corrupt</c>), out of the backlog; returns its new path.</summary>
    public string Quarantine(Segment segment)
    {
        lock (_gate)
        {
            var aside = segment.Path + ".corrupt";
            File.Move(segment.Path, aside, overwrite: true);
            _segments.Remove(segment);
            Interlocked.Add(ref _bytes, -segment.Bytes);
            Interlocked.Add(ref _events, -segment.Events);
            return aside;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            SealLocked();
        }
    }

    internal static byte[] Encode(StoreBatch batch)
    {
        var events = new List<JournalEvent>(batch.Events.Count);
        foreach (var e in batch.Events)
        {
            events.Add(new JournalEvent(
                e.EventId, e.FrameId.ToString(), e.CameraId, e.Type.ToWireName(), FrameTimes.ToMicros(e.Timestamp), e.Stage, e.Service,
                e.TraceId == default ? null : e.TraceId.ToHexString(), e.SpanId == default ? null : e.SpanId.ToHexString(),
                e.Duration is { } d ? d.Ticks / TimeSpan.TicksPerMicrosecond : null, e.Reason, e.Data));
        }

        var payload = JsonSerializer.SerializeToUtf8Bytes(
            new JournalRecord(events, [.. batch.Detections], [.. batch.TrackEvents]), JournalJsonContext.Default.JournalRecord);
        var record = new byte[HeaderLength + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(record, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), Crc32.HashToUInt32(payload));
        payload.CopyTo(record, HeaderLength);
        return record;
    }

    internal static StoreBatch Decode(ReadOnlySpan<byte> payload)
    {
        var record = JsonSerializer.Deserialize(payload, JournalJsonContext.Default.JournalRecord)
            ?? throw new InvalidDataException("A journal record is empty.");
        var events = new FrameEvent[record.Events.Count];
        for (var i = 0; i < events.Length; i++)
        {
            var j = record.Events[i];
            if (!FrameEventTypes.TryParse(j.Type, out var type))
            {
                throw new InvalidDataException($"A journal record holds an unknown event type '{j.Type}'.");
            }

            events[i] = new FrameEvent
            {
                EventId = j.Id,
                FrameId = FrameId.Parse(j.Frame),
                CameraId = j.Camera,
                Type = type,
                Timestamp = FrameTimes.FromMicros(j.TimeUs),
                Stage = j.Stage,
                Service = j.Service,
                TraceId = j.Trace is null ? default : ActivityTraceId.CreateFromString(j.Trace),
                SpanId = j.Span is null ? default : ActivitySpanId.CreateFromString(j.Span),
                Duration = j.DurationUs is { } us ? TimeSpan.FromTicks(us * TimeSpan.TicksPerMicrosecond) : null,
                Reason = j.Reason,
                Data = j.Data,
            };
        }

        return new StoreBatch(events, record.Detections, record.Tracks);
    }

    private enum RecordStatus
    {
        Ok,
        End,
        Torn,
    }

    private static RecordStatus TryReadRecord(Stream stream, out byte[] payload)
    {
        payload = [];
        Span<byte> header = stackalloc byte[HeaderLength];
        var read = stream.ReadAtLeast(header, HeaderLength, throwOnEndOfStream: false);
        if (read == 0)
        {
            return RecordStatus.End;
        }

        if (read < HeaderLength || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
        {
            return RecordStatus.Torn;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (length > MaxRecordBytes)
        {
            return RecordStatus.Torn;
        }

        payload = new byte[length];
        if (stream.ReadAtLeast(payload, (int)length, throwOnEndOfStream: false) < length ||
            Crc32.HashToUInt32(payload) != BinaryPrimitives.ReadUInt32LittleEndian(header[8..]))
        {
            return RecordStatus.Torn;
        }

        return RecordStatus.Ok;
    }

    private void Open()
    {
        var files = Directory.GetFiles(_directory, "journal-*" + Extension);
        Array.Sort(files, StringComparer.Ordinal);
        foreach (var path in files)
        {
            var segment = new Segment(path);
            long validLength = 0;
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
            {
                while (true)
                {
                    var status = TryReadRecord(stream, out var payload);
                    if (status == RecordStatus.End)
                    {
                        break;
                    }

                    if (status == RecordStatus.Torn)
                    {
                        DiscardedAtOpen++;
                        break;
                    }

                    validLength = stream.Position;
                    segment.Bytes += HeaderLength + payload.Length;
                    segment.Events += CountEvents(payload);
                }
            }

            if (new FileInfo(path).Length > validLength)
            {
                // Cut what was never completely written (and so never acknowledged).
                using var truncate = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None);
                truncate.SetLength(validLength);
                truncate.Flush(flushToDisk: true);
            }

            if (segment.Bytes == 0)
            {
                File.Delete(path);
            }
            else
            {
                _segments.AddLast(segment);
                _bytes += segment.Bytes;
                _events += segment.Events;
            }

            var name = Path.GetFileNameWithoutExtension(path);
            if (long.TryParse(name.AsSpan("journal-".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
            {
                _nextSequence = Math.Max(_nextSequence, sequence + 1);
            }
        }
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

    private void SealLocked()
    {
        _active?.Dispose();
        _active = null;
        _activeSegment = null;
    }

    private static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return;
        }

        var fd = NativeMethods.Open(directory, 0); // O_RDONLY
        if (fd < 0)
        {
            return;
        }

        _ = NativeMethods.FSync(fd);
        _ = NativeMethods.Close(fd);
    }

    /// <summary>One journal file.</summary>
    public sealed class Segment(string path)
    {
        public string Path { get; } = path;

        public long Bytes { get; internal set; }

        public long Events { get; internal set; }
    }

    private static partial class NativeMethods
    {
        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        public static partial int FSync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        public static partial int Close(int fd);
    }
}

internal sealed record JournalEvent(
    Guid Id, string Frame, string Camera, string Type, long TimeUs, string Stage, string Service,
    string? Trace, string? Span, long? DurationUs, string? Reason, string? Data);

internal sealed record JournalRecord(List<JournalEvent> Events, List<DetectionRecord> Detections, List<TrackedObjectEvent> Tracks);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(JournalRecord))]
internal sealed partial class JournalJsonContext : JsonSerializerContext;
