using System.Globalization;
using Detektor.Capture.Cameras;
using Detektor.Core.Frames;

namespace Detektor.Capture.Ffmpeg;

/// <summary>
/// Builds the ffmpeg command line that turns a camera URL into raw frames of the detect size and rate on stdout:
/// <c>[input options] [camera InputArgs] -i URL -map 0:v:0 -an -sn -dn -vf fps=F,scale=W:H -pix_fmt P -f rawvideo -avioflags direct pipe:1</c>.
/// <c>-avioflags direct</c> writes each frame with one <c>write</c> instead of 32 KiB pieces: ffmpeg makes one system call
/// where it made one per 32 KiB (fifteen for 640×480 yuv420p), and it waits in it while the reader
/// (<see cref="FfmpegFrameSource"/>) empties the pipe. Measured side by side (docs/performance.md, "Capture"): the
/// capture process and its ffmpeg both use less CPU per frame.
/// </summary>
public static class FfmpegArguments
{
    /// <param name="camera">The camera.</param>
    /// <param name="ioTimeout">ffmpeg's own network timeout (a backstop: the worker's stall watchdog normally acts first).</param>
    /// <param name="pixelFormat">Output pixel format.</param>
    public static IReadOnlyList<string> Build(CameraOptions camera, TimeSpan ioTimeout, string pixelFormat = PixelFormats.Rgb24)
    {
        var size = string.Create(CultureInfo.InvariantCulture, $"{camera.Width}x{camera.Height}");
        var fps = camera.Fps.ToString("0.###", CultureInfo.InvariantCulture);
        var timeoutMicros = ((long)ioTimeout.TotalMicroseconds).ToString(CultureInfo.InvariantCulture);
        var args = new List<string> { "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning" };
        switch (CameraUrl.KindOf(camera.Url))
        {
            case CameraUrlKind.TestPattern:
                args.AddRange(camera.InputArgs);
                args.AddRange(["-re", "-f", "lavfi", "-i", $"{CameraUrl.TestPatternName(camera.Url)}=size={size}:rate={fps}"]);
                break;
            case CameraUrlKind.File:
                // -re reads at the file's native rate, like a live camera.
                args.Add("-re");
                if (camera.Loop)
                {
                    args.AddRange(["-stream_loop", "-1"]);
                }

                args.AddRange(camera.InputArgs);
                args.AddRange(["-i", CameraUrl.FilePath(camera.Url)]);
                break;
            case CameraUrlKind.Rtsp:
                args.AddRange(["-rtsp_transport", camera.Transport, "-timeout", timeoutMicros]);
                args.AddRange(camera.InputArgs);
                args.AddRange(["-i", camera.Url]);
                break;
            case CameraUrlKind.Http:
                args.AddRange(["-rw_timeout", timeoutMicros]);
                args.AddRange(camera.InputArgs);
                args.AddRange(["-i", camera.Url]);
                break;
            default:
                throw new ArgumentException($"Unsupported camera URL for camera '{camera.Name}'.", nameof(camera));
        }

        args.AddRange([
            "-map", "0:v:0", "-an", "-sn", "-dn",
            "-vf", $"fps={fps},scale={camera.Width}:{camera.Height}",
            "-pix_fmt", pixelFormat, "-f", "rawvideo", "-avioflags", "direct", "pipe:1",
        ]);
        return args;
    }
}
