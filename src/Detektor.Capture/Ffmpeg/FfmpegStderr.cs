using System.Globalization;
using Detektor.Core.Security;
using Microsoft.Extensions.Logging;

namespace Detektor.Capture.Ffmpeg;

/// <summary>
/// Handles ffmpeg's stderr, line by line: masks secrets, counts decode errors, remembers the last error, and writes the
/// lines to the structured log — at most <see cref="MaxLinesPerWindow"/> per <see cref="Window"/>; the rest are counted
/// and summarised in one line when the window ends (or the process ends).
/// </summary>
public sealed class FfmpegStderr
{
    public const int MaxLinesPerWindow = 20;
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    // Decoders whose complaints ("[h264 @ 0x…] error while decoding MB …") are decode errors.
    private static readonly string[] Decoders =
    [
        "h264", "hevc", "mjpeg", "mjpegb", "mpeg4", "msmpeg4", "msmpeg4v2", "msmpeg4v3", "mpeg1video", "mpeg2video", "h263",
        "vp8", "vp9", "av1", "libdav1d", "jpeg2000", "theora", "wmv1", "wmv2", "wmv3", "vc1", "cavs", "rv40", "flv",
    ];

    private readonly string _camera;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Action<int>? _decodeErrors;
    private readonly Lock _gate = new();
    private long _windowStart;
    private int _linesInWindow;
    private int _suppressed;
    private bool _lastWasDecodeError;

    public FfmpegStderr(string camera, ILogger logger, TimeProvider time, Action<int>? decodeErrors = null)
    {
        _camera = camera;
        _logger = logger;
        _time = time;
        _decodeErrors = decodeErrors;
        _windowStart = time.GetTimestamp();
    }

    /// <summary>The last line that explains a failure (masked): not a decode error, not a repeat notice.</summary>
    public string? LastError { get; private set; }

    /// <summary>Decode-error lines seen (repeats included).</summary>
    public long DecodeErrors { get; private set; }

    /// <summary>Lines seen, logged or not.</summary>
    public long Lines { get; private set; }

    /// <summary>Lines left out of the log by the rate limit.</summary>
    public long Suppressed { get; private set; }

    /// <summary>Handles one line of stderr.</summary>
    public void OnLine(string line)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return;
        }

        var masked = SecretMasker.MaskSecrets(line.Trim());
        var decodeErrors = 0;
        lock (_gate)
        {
            Lines++;
            if (RepeatCount(masked) is { } repeats)
            {
                decodeErrors = _lastWasDecodeError ? repeats : 0;
            }
            else if (IsDecodeError(masked))
            {
                _lastWasDecodeError = true;
                decodeErrors = 1;
            }
            else
            {
                _lastWasDecodeError = false;
                if (!IsEpilogue(masked))
                {
                    LastError = masked;
                }
            }

            DecodeErrors += decodeErrors;
            if (_time.GetElapsedTime(_windowStart) >= Window)
            {
                FlushLocked();
                _windowStart = _time.GetTimestamp();
                _linesInWindow = 0;
            }

            if (++_linesInWindow <= MaxLinesPerWindow)
            {
                Log.FfmpegOutput(_logger, _camera, masked);
            }
            else
            {
                _suppressed++;
                Suppressed++;
            }
        }

        if (decodeErrors > 0)
        {
            _decodeErrors?.Invoke(decodeErrors);
        }
    }

    /// <summary>Logs how many lines the rate limit left out since the last summary.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            FlushLocked();
        }
    }

    /// <summary>
    /// True for a line that reports damaged input being decoded: a decoder's own complaint (<c>[h264 @ 0x…] …</c>), or
    /// ffmpeg's <c>corrupt decoded frame</c> / <c>Error while decoding stream</c>.
    /// </summary>
    public static bool IsDecodeError(string line)
    {
        if (line.Contains("corrupt decoded frame", StringComparison.OrdinalIgnoreCase) ||
            line.Contains("error while decoding", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (line.Length < 4 || line[0] != '[')
        {
            return false;
        }

        var at = line.IndexOf(" @ ", StringComparison.Ordinal);
        if (at < 2)
        {
            return false;
        }

        var component = line.AsSpan(1, at - 1);
        foreach (var decoder in Decoders)
        {
            if (component.Equals(decoder, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>ffmpeg's closing remarks that do not explain anything ("Conversion failed!", "To ignore this, …").</summary>
    public static bool IsEpilogue(string line) =>
        line.StartsWith("To ignore this", StringComparison.Ordinal) ||
        line.StartsWith("Conversion failed", StringComparison.Ordinal) ||
        line.StartsWith("Exiting normally", StringComparison.Ordinal);

    /// <summary>N for ffmpeg's "Last message repeated N times", else null.</summary>
    public static int? RepeatCount(string line)
    {
        const string prefix = "Last message repeated ";
        var trimmed = line.AsSpan().Trim();
        if (!trimmed.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = trimmed[prefix.Length..];
        var space = rest.IndexOf(' ');
        return space > 0 && int.TryParse(rest[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    private void FlushLocked()
    {
        if (_suppressed > 0)
        {
            Log.FfmpegSuppressed(_logger, _camera, _suppressed);
            _suppressed = 0;
        }
    }
}
