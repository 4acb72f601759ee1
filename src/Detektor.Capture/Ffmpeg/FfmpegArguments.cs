using System.Globalization;
using Detektor.Capture.Cameras;
using Detektor.Core.Frames;

namespace Detektor.Capture.Ffmpeg;

/// <summary>Builds the ffmpeg command line that turns a camera URL into raw frames of the detect size and rate on stdout.</summary>
public static class FfmpegArguments
{
    public static IReadOnlyList<string> Build(CameraOptions camera, string pixelFormat = PixelFormats.Rgb24)
    {
        var size = string.Create(CultureInfo.InvariantCulture, $"{camera.Width}x{camera.Height}");
        var fps = camera.Fps.ToString("0.###", CultureInfo.InvariantCulture);
        var args = new List<string> { "-hide_banner", "-nostdin", "-loglevel", "warning" };
        var kind = CameraUrl.KindOf(camera.Url);
        switch (kind)
        {
            case CameraUrlKind.TestPattern:
                args.AddRange(["-re", "-f", "lavfi", "-i", $"{CameraUrl.TestPatternName(camera.Url)}=size={size}:rate={fps}"]);
                break;
            case CameraUrlKind.File:
                args.Add("-re");
                if (camera.Loop)
                {
                    args.AddRange(["-stream_loop", "-1"]);
                }

                args.AddRange(camera.InputArgs);
                args.AddRange(["-i", CameraUrl.FilePath(camera.Url)]);
                break;
            case CameraUrlKind.Rtsp:
                args.AddRange(["-rtsp_transport", camera.Transport, "-timeout", "5000000"]);
                args.AddRange(camera.InputArgs);
                args.AddRange(["-i", camera.Url]);
                break;
            case CameraUrlKind.Http:
                args.AddRange(["-rw_timeout", "5000000", "-reconnect", "1", "-reconnect_streamed", "1", "-reconnect_delay_max", "2"]);
                args.AddRange(camera.InputArgs);
                args.AddRange(["-i", camera.Url]);
                break;
            default:
                throw new ArgumentException($"Unsupported camera URL for camera '{camera.Name}'.", nameof(camera));
        }

        args.AddRange([
            "-map", "0:v:0", "-an", "-sn", "-dn",
            "-vf", $"fps={fps},scale={camera.Width}:{camera.Height}",
            "-pix_fmt", pixelFormat, "-f", "rawvideo", "pipe:1",
        ]);
        return args;
    }
}

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
    private static readonly string[] TestPatterns = ["testsrc", "testsrc2", "smptebars", "rgbtestsrc"];

    public static CameraUrlKind KindOf(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return CameraUrlKind.Unsupported;
        }

        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return url.StartsWith('/') || url.StartsWith("./", StringComparison.Ordinal) || url.StartsWith("../", StringComparison.Ordinal)
                ? CameraUrlKind.File
                : CameraUrlKind.Unsupported;
        }

        var scheme = url[..schemeEnd].ToLowerInvariant();
        return scheme switch
        {
            "rtsp" or "rtsps" => Uri.TryCreate(url, UriKind.Absolute, out var u) && !string.IsNullOrEmpty(u.Host) ? CameraUrlKind.Rtsp : CameraUrlKind.Unsupported,
            "http" or "https" => Uri.TryCreate(url, UriKind.Absolute, out var h) && !string.IsNullOrEmpty(h.Host) ? CameraUrlKind.Http : CameraUrlKind.Unsupported,
            "file" => url.Length > 7 ? CameraUrlKind.File : CameraUrlKind.Unsupported,
            _ when TestPatterns.Contains(scheme) => CameraUrlKind.TestPattern,
            _ => CameraUrlKind.Unsupported,
        };
    }

    public static string TestPatternName(string url) => url[..url.IndexOf("://", StringComparison.Ordinal)].ToLowerInvariant();

    public static string FilePath(string url) =>
        url.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? Uri.UnescapeDataString(url[7..]) : url;
}
