namespace Detektor.Capture.Ffmpeg;

public enum CameraUrlKind
{
    Unsupported,
    Rtsp,
    Http,
    File,
    TestPattern,
}

/// <summary>What kind of source a camera URL names.</summary>
public static class CameraUrl
{
    /// <summary>ffmpeg lavfi sources accepted as <c>NAME://</c>.</summary>
    public static readonly IReadOnlyList<string> TestPatterns = ["testsrc", "testsrc2", "smptebars", "smptehdbars", "rgbtestsrc", "yuvtestsrc", "mandelbrot"];

    /// <summary>What the validator says is allowed.</summary>
    public const string Allowed = "rtsp://, rtsps://, http://, https:// (MJPEG, HLS), file:// or an absolute path, or a test pattern (testsrc://, testsrc2://, smptebars://)";

    public static CameraUrlKind KindOf(string? url)
    {
        if (string.IsNullOrWhiteSpace(url) || url.Any(char.IsWhiteSpace))
        {
            return CameraUrlKind.Unsupported;
        }

        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return Path.IsPathFullyQualified(url) ? CameraUrlKind.File : CameraUrlKind.Unsupported;
        }

        var scheme = url[..schemeEnd].ToLowerInvariant();
        return scheme switch
        {
            "rtsp" or "rtsps" => HasHost(url) ? CameraUrlKind.Rtsp : CameraUrlKind.Unsupported,
            "http" or "https" => HasHost(url) ? CameraUrlKind.Http : CameraUrlKind.Unsupported,
            "file" => FilePath(url) is { Length: > 0 } path && Path.IsPathFullyQualified(path) ? CameraUrlKind.File : CameraUrlKind.Unsupported,
            _ when TestPatterns.Contains(scheme) && url.Length == schemeEnd + 3 => CameraUrlKind.TestPattern,
            _ => CameraUrlKind.Unsupported,
        };
    }

    /// <summary>True for sources that play at their own pace and end (files), as opposed to live ones.</summary>
    public static bool IsFile(string? url) => KindOf(url) == CameraUrlKind.File;

    public static string TestPatternName(string url) => url[..url.IndexOf("://", StringComparison.Ordinal)].ToLowerInvariant();

    public static string FilePath(string url) =>
        url.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? Uri.UnescapeDataString(url[7..]) : url;

    private static bool HasHost(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && !string.IsNullOrEmpty(uri.Host) && (uri.IsDefaultPort || uri.Port is > 0 and < 65536);
}
