using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Detektor.Core.Journal;

/// <summary>
/// An append-only, bounded on-disk journal of opaque records, in segment files (<c>journal-000000000001.dkj</c>, …)
/// fsynced before an append returns. Replay takes the oldest segment (sealed: appends go to a new one), reads its
/// records in order, and deletes it once all of them are done (<see cref="Complete"/>); a crash mid-replay replays that
/// segment again, so consumers must be idempotent. Used by the store's spill (Storage <c>EventJournal</c>) and the Redis
/// bus's lifecycle spill; each encodes its own payloads and says how many items one holds.
/// <para>Record: magic <c>DKJ1</c>, payload length (uint32 LE), CRC-32 of the payload (uint32 LE), payload. A torn or
/// corrupt record (a crash during an append, never acknowledged) ends its segment: it and what follows are cut off at
/// open and counted in <see cref="DiscardedAtOpen"/>.</para>
/// </summary>
public sealed partial class SegmentJournal : IDisposable
{
    public const string Extension = ".dkj";

    /// <summary>Bytes in front of every payload: magic, length and CRC.</summary>
    public const int HeaderLength = 12;

    private const string Prefix = "journal-";
    private const uint Magic = 0x314A4B44; // "DKJ1" little-endian
    private const int MaxRecordBytes = 256 * 1024 * 1024;

    private readonly Lock _gate = new();
    private readonly string _directory;
    private readonly long _maxBytes;
    private readonly long _segmentBytes;
    private readonly LinkedList<Segment> _segments = new();
    private FileStream? _active;
    private Segment? _activeSegment;
    private long _nextSequence = 1;
    private long _bytes;
    private long _items;

    /// <param name="directory">Where the segments live (created if missing); one journal per directory.</param>
    /// <param name="maxBytes">Bound of the bytes on disk: an append past it is refused.</param>
    /// <param name="segmentBytes">Size after which appends start a new segment.</param>
    /// <param name="countItems">How many items a payload holds (for <see cref="Items"/> after a restart); 0 when it cannot tell.</param>
    public SegmentJournal(string directory, long maxBytes, long segmentBytes, Func<byte[], long> countItems)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentBytes, 1);
        _directory = Path.GetFullPath(directory);
        _maxBytes = maxBytes;
        _segmentBytes = segmentBytes;
        Directory.CreateDirectory(_directory);
        Open(countItems);
    }

    public string DirectoryPath => _directory;

    /// <summary>Bytes on disk waiting for replay.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Items (as counted by the owner) waiting for replay.</summary>
    public long Items => Interlocked.Read(ref _items);

    public long MaxBytes => _maxBytes;

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

    /// <summary>A payload with its record header, as it lies on disk.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        var record = new byte[HeaderLength + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(record, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), Crc32.HashToUInt32(payload));
        payload.CopyTo(record.AsSpan(HeaderLength));
        return record;
    }

    /// <summary>
    /// Appends payloads holding <paramref name="items"/> items, in order, as one fsynced write. Returns false, writing
    /// nothing, when they would take the journal past its bound (an empty journal takes one append of any size).
    /// </summary>
    public bool TryAppend(IReadOnlyList<byte[]> payloads, long items)
    {
        var records = new byte[payloads.Count][];
        long size = 0;
        for (var i = 0; i < records.Length; i++)
        {
            records[i] = Frame(payloads[i]);
            size += records[i].Length;
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
                var path = Path.Combine(_directory, $"{Prefix}{_nextSequence++.ToString("D12", CultureInfo.InvariantCulture)}{Extension}");
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
            _activeSegment.Items += items;
            Interlocked.Add(ref _bytes, size);
            Interlocked.Add(ref _items, items);
            return true;
        }
    }

    /// <summary>
    /// The oldest segment, sealed (appends go to a new one), to replay; null when the journal is empty. Call
    /// <see cref="Complete"/> once all its records are done.
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

    /// <summary>Reads a sealed segment's payloads in order, up to the first torn record.</summary>
    public static IEnumerable<byte[]> Read(Segment segment)
    {
        ArgumentNullException.ThrowIfNull(segment);
        using var stream = new FileStream(segment.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024);
        while (TryReadRecord(stream, out var payload) == RecordStatus.Ok)
        {
            yield return payload;
        }
    }

    /// <summary>Counts replayed items off the backlog (for health and metrics) before the segment is complete.</summary>
    public void MarkReplayed(Segment segment, long items)
    {
        ArgumentNullException.ThrowIfNull(segment);
        lock (_gate)
        {
            var n = Math.Min(items, segment.Items);
            segment.Items -= n;
            Interlocked.Add(ref _items, -n);
        }
    }

    /// <summary>Deletes a fully replayed segment. Returns true when the journal is empty afterwards.</summary>
    public bool Complete(Segment segment)
    {
        ArgumentNullException.ThrowIfNull(segment);
        lock (_gate)
        {
            File.Delete(segment.Path);
            Forget(segment);
            return _segments.Count == 0;
        }
    }

    /// <summary>Moves a segment that cannot be replayed aside (<c>.corrupt</c>), out of the backlog; returns its new path.</summary>
    public string Quarantine(Segment segment)
    {
        ArgumentNullException.ThrowIfNull(segment);
        lock (_gate)
        {
            var aside = segment.Path + ".corrupt";
            File.Move(segment.Path, aside, overwrite: true);
            Forget(segment);
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

    private void Forget(Segment segment)
    {
        if (ReferenceEquals(segment, _activeSegment))
        {
            SealLocked();
        }

        _segments.Remove(segment);
        Interlocked.Add(ref _bytes, -segment.Bytes);
        Interlocked.Add(ref _items, -segment.Items);
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

    private void Open(Func<byte[], long> countItems)
    {
        var files = Directory.GetFiles(_directory, Prefix + "*" + Extension);
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
                    segment.Items += countItems(payload);
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
                _items += segment.Items;
            }

            var name = Path.GetFileNameWithoutExtension(path);
            if (long.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
            {
                _nextSequence = Math.Max(_nextSequence, sequence + 1);
            }
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

        public long Items { get; internal set; }
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
