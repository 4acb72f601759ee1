using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Detektor.Core.Frames;

/// <summary>
/// Identifies one frame, everywhere: in bus messages, lifecycle events, spans, logs and the API.
/// </summary>
/// <remarks>
/// <para>Canonical form: <c>yyyyMMddTHHmmss.ffffffZ-{camera}-{sequence}-{node}</c>, for example
/// <c>20261123T144012.123456Z-front-42-3f9a1c2d</c>.</para>
/// <list type="bullet">
/// <item><c>timestamp</c>: 23 characters, UTC, microsecond precision. Fixed width, so the ordinal order of the strings is
/// capture-time order. Within one process it is strictly increasing (see <see cref="FrameIdGenerator"/>), even when the
/// wall clock steps back.</item>
/// <item><c>camera</c>: the camera id (<see cref="CameraId.Rule"/>); it may contain '-'.</item>
/// <item><c>sequence</c>: the camera's frame number in this process, decimal, no padding.</item>
/// <item><c>node</c>: 8 lowercase hex digits chosen at random once per process, so two processes never collide.</item>
/// </list>
/// <para>Parsing reads the fixed-width timestamp from the front and node and sequence from the back; what is left is the camera.</para>
/// </remarks>
public readonly struct FrameId : IEquatable<FrameId>, IComparable<FrameId>, ISpanFormattable
{
    public const int TimestampLength = 23;
    public const int NodeLength = 8;
    public const string Format = "yyyyMMddTHHmmss.ffffffZ-{camera}-{sequence}-{node}";

    private const long TicksPerMicrosecond = TimeSpan.TicksPerMicrosecond;
    private const long MinMicros = 0; // 1970-01-01
    private static readonly long MaxMicros = (DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TicksPerMicrosecond;

    private readonly string? _cameraId;

    public FrameId(long unixMicroseconds, string cameraId, long sequence, uint node)
    {
        if (unixMicroseconds < MinMicros || unixMicroseconds > MaxMicros)
        {
            throw new ArgumentOutOfRangeException(nameof(unixMicroseconds), unixMicroseconds, "The timestamp must lie between 1970 and 9999.");
        }

        if (!Frames.CameraId.IsValid(cameraId))
        {
            throw new ArgumentException($"Invalid camera id '{cameraId}': {Frames.CameraId.Rule}.", nameof(cameraId));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(sequence);
        UnixMicroseconds = unixMicroseconds;
        _cameraId = cameraId;
        Sequence = sequence;
        Node = node;
    }

    /// <summary>Microseconds since the Unix epoch (UTC); the id's time, monotonic within a process.</summary>
    public long UnixMicroseconds { get; }

    public string CameraId => _cameraId ?? string.Empty;

    public long Sequence { get; }

    public uint Node { get; }

    public bool IsEmpty => _cameraId is null;

    public DateTimeOffset Timestamp => DateTimeOffset.UnixEpoch.AddTicks(UnixMicroseconds * TicksPerMicrosecond);

    /// <summary>
    /// The timestamp part of the ids of frames made at <paramref name="time"/>: every id made at or after that time sorts
    /// at or after this string, so it bounds time-range scans over an index of frame ids.
    /// </summary>
    public static string TimestampPrefix(DateTimeOffset time)
    {
        var micros = (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TicksPerMicrosecond;
        micros = Math.Clamp(micros, MinMicros, MaxMicros);
        var id = new FrameId(micros, "x", 0, 0);
        return id.ToString()[..TimestampLength];
    }

    public static FrameId Parse(string value)
    {
        if (!TryParse(value, out var id, out var error))
        {
            throw new FormatException(error);
        }

        return id;
    }

    public static bool TryParse([NotNullWhen(true)] string? value, out FrameId id) => TryParse(value, out id, out _);

    /// <summary>Parses a canonical frame id; on failure <paramref name="error"/> says what is wrong, in one sentence.</summary>
    public static bool TryParse([NotNullWhen(true)] string? value, out FrameId id, [NotNullWhen(false)] out string? error)
    {
        id = default;
        if (string.IsNullOrEmpty(value))
        {
            error = $"Invalid frame id: it is empty; expected '{Format}'.";
            return false;
        }

        var span = value.AsSpan();
        // timestamp '-' camera(>=1) '-' sequence(>=1) '-' node(8)
        if (span.Length < TimestampLength + 1 + 1 + 1 + 1 + 1 + NodeLength || span.Length > 200)
        {
            error = $"Invalid frame id '{Truncate(value)}': wrong length; expected '{Format}'.";
            return false;
        }

        if (!TryParseTimestamp(span[..TimestampLength], out var micros) || span[TimestampLength] != '-')
        {
            error = $"Invalid frame id '{Truncate(value)}': it must start with a UTC timestamp 'yyyyMMddTHHmmss.ffffffZ' followed by '-'.";
            return false;
        }

        var nodeSpan = span[^NodeLength..];
        if (span[^(NodeLength + 1)] != '-' || !TryParseNode(nodeSpan, out var node))
        {
            error = $"Invalid frame id '{Truncate(value)}': it must end with '-' and 8 lowercase hex digits (the node).";
            return false;
        }

        var middle = span[(TimestampLength + 1)..^(NodeLength + 1)]; // camera-sequence
        var lastDash = middle.LastIndexOf('-');
        if (lastDash <= 0 || lastDash == middle.Length - 1)
        {
            error = $"Invalid frame id '{Truncate(value)}': expected '{{camera}}-{{sequence}}' between the timestamp and the node.";
            return false;
        }

        var camera = middle[..lastDash];
        var sequenceSpan = middle[(lastDash + 1)..];
        if (!Frames.CameraId.IsValid(camera))
        {
            error = $"Invalid frame id '{Truncate(value)}': the camera id must be {Frames.CameraId.Rule}.";
            return false;
        }

        if (!IsDigits(sequenceSpan) || (sequenceSpan.Length > 1 && sequenceSpan[0] == '0') ||
            !long.TryParse(sequenceSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
        {
            error = $"Invalid frame id '{Truncate(value)}': the sequence must be a decimal number without leading zeros.";
            return false;
        }

        id = new FrameId(micros, camera.ToString(), sequence, node);
        error = null;
        return true;
    }

    public override string ToString()
    {
        if (IsEmpty)
        {
            return string.Empty;
        }

        var length = TimestampLength + 1 + CameraId.Length + 1 + CountDigits(Sequence) + 1 + NodeLength;
        return string.Create(length, this, static (span, id) =>
        {
            _ = id.TryFormat(span, out _, default, CultureInfo.InvariantCulture);
        });
    }

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        var camera = CameraId;
        var needed = TimestampLength + 1 + camera.Length + 1 + CountDigits(Sequence) + 1 + NodeLength;
        if (IsEmpty || destination.Length < needed)
        {
            return false;
        }

        var time = Timestamp.UtcDateTime;
        var micros = (int)(UnixMicroseconds % 1_000_000);
        var pos = 0;
        Write4(destination, ref pos, time.Year);
        Write2(destination, ref pos, time.Month);
        Write2(destination, ref pos, time.Day);
        destination[pos++] = 'T';
        Write2(destination, ref pos, time.Hour);
        Write2(destination, ref pos, time.Minute);
        Write2(destination, ref pos, time.Second);
        destination[pos++] = '.';
        for (var divisor = 100_000; divisor > 0; divisor /= 10)
        {
            destination[pos++] = (char)('0' + (micros / divisor % 10));
        }

        destination[pos++] = 'Z';
        destination[pos++] = '-';
        camera.AsSpan().CopyTo(destination[pos..]);
        pos += camera.Length;
        destination[pos++] = '-';
        _ = Sequence.TryFormat(destination[pos..], out var seqChars, default, CultureInfo.InvariantCulture);
        pos += seqChars;
        destination[pos++] = '-';
        _ = Node.TryFormat(destination[pos..], out _, "x8", CultureInfo.InvariantCulture);
        pos += NodeLength;
        charsWritten = pos;
        return true;
    }

    public bool Equals(FrameId other) =>
        UnixMicroseconds == other.UnixMicroseconds && Sequence == other.Sequence && Node == other.Node &&
        string.Equals(_cameraId, other._cameraId, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is FrameId other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(UnixMicroseconds, Sequence, Node, _cameraId);

    /// <summary>Orders by time first, then camera, sequence and node — the order of the canonical strings for distinct times.</summary>
    public int CompareTo(FrameId other)
    {
        var c = UnixMicroseconds.CompareTo(other.UnixMicroseconds);
        if (c != 0)
        {
            return c;
        }

        c = string.CompareOrdinal(_cameraId, other._cameraId);
        if (c != 0)
        {
            return c;
        }

        c = Sequence.CompareTo(other.Sequence);
        return c != 0 ? c : Node.CompareTo(other.Node);
    }

    public static bool operator ==(FrameId left, FrameId right) => left.Equals(right);

    public static bool operator !=(FrameId left, FrameId right) => !left.Equals(right);

    public static bool operator <(FrameId left, FrameId right) => left.CompareTo(right) < 0;

    public static bool operator >(FrameId left, FrameId right) => left.CompareTo(right) > 0;

    public static bool operator <=(FrameId left, FrameId right) => left.CompareTo(right) <= 0;

    public static bool operator >=(FrameId left, FrameId right) => left.CompareTo(right) >= 0;

    private static bool TryParseTimestamp(ReadOnlySpan<char> s, out long micros)
    {
        micros = 0;
        // yyyyMMddTHHmmss.ffffffZ
        if (s[8] != 'T' || s[15] != '.' || s[22] != 'Z' || !IsDigits(s[..8]) || !IsDigits(s[9..15]) || !IsDigits(s[16..22]))
        {
            return false;
        }

        var year = Num(s[..4]);
        var month = Num(s[4..6]);
        var day = Num(s[6..8]);
        var hour = Num(s[9..11]);
        var minute = Num(s[11..13]);
        var second = Num(s[13..15]);
        var fraction = Num(s[16..22]);
        if (year < 1970 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        var date = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc);
        micros = ((date.Ticks - DateTime.UnixEpoch.Ticks) / TicksPerMicrosecond) + fraction;
        return true;
    }

    private static bool TryParseNode(ReadOnlySpan<char> s, out uint node)
    {
        node = 0;
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return uint.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out node);
    }

    private static bool IsDigits(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static int Num(ReadOnlySpan<char> s)
    {
        var n = 0;
        foreach (var c in s)
        {
            n = (n * 10) + (c - '0');
        }

        return n;
    }

    private static void Write2(Span<char> d, ref int pos, int v)
    {
        d[pos++] = (char)('0' + (v / 10));
        d[pos++] = (char)('0' + (v % 10));
    }

    private static void Write4(Span<char> d, ref int pos, int v)
    {
        Write2(d, ref pos, v / 100);
        Write2(d, ref pos, v % 100);
    }

    private static int CountDigits(long value)
    {
        var digits = 1;
        while (value >= 10)
        {
            value /= 10;
            digits++;
        }

        return digits;
    }

    private static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 77), "...");
}
