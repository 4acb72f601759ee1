using System.Globalization;
using Detektor.Capture.Cameras;
using Detektor.Capture.Motion;

namespace Detektor.Capture;

/// <summary>
/// Options of the capture role (section <c>Detektor:Capture</c>; the cameras are the list <c>Detektor:Cameras</c>).
/// Documented key by key in docs/configuration.md ("Cameras").
/// </summary>
public sealed class CaptureOptions
{
    public const string SectionName = "Detektor:Capture";
    public const string CamerasSectionName = "Detektor:Cameras";

    /// <summary>Path of the ffmpeg binary. Default: <c>ffmpeg</c> found on PATH.</summary>
    public string FfmpegPath { get; set; } = "ffmpeg";

    /// <summary>
    /// A streaming camera that delivers no frame for this long is stalled: ffmpeg is killed and restarted. 1–600, default
    /// 10 s (at least 3 frame intervals of the camera are always allowed).
    /// </summary>
    public double StallTimeoutSeconds { get; set; } = 10;

    /// <summary>A new connection that delivers no first frame within this time is stalled too. 1–600, default 20 s.</summary>
    public double ConnectTimeoutSeconds { get; set; } = 20;

    /// <summary>When no camera is configured, run a demo camera named <c>demo</c>. Default true.</summary>
    public bool DemoCamera { get; set; } = true;

    /// <summary>
    /// The demo camera's URL. Default (empty): the demo footage <c>vtest.mp4</c> when found (see
    /// <see cref="Demo.DemoCameraResolver"/>), else the ffmpeg test pattern <c>testsrc2://</c>.
    /// </summary>
    public string? DemoUrl { get; set; }

    /// <summary>
    /// The pixel format ffmpeg hands frames over in: <c>yuv420p</c> (default: what decoders produce, half the bytes of
    /// rgb24, and ffmpeg does not convert — about half of its CPU per frame) or <c>rgb24</c>. Consumers that need rgb24
    /// (the detector, snapshots, JPEG) convert; see ADR 0008.
    /// </summary>
    public string PixelFormat { get; set; } = Core.Frames.PixelFormats.Yuv420p;

    /// <summary>Motion scoring at capture.</summary>
    public MotionOptions Motion { get; set; } = new();

    /// <summary>The cameras of <c>Detektor:Cameras</c>.</summary>
    public List<CameraOptions> Cameras { get; set; } = [];

    /// <summary>Cameras given with <c>detektor run --camera NAME=URL</c>; they run in addition to <see cref="Cameras"/>.</summary>
    public List<CameraOptions> CommandLineCameras { get; set; } = [];

    /// <summary><c>Detektor:DataDir</c>, where the demo footage is also looked for.</summary>
    public string? DataDir { get; set; }

    /// <summary>
    /// Problems found while binding the camera sections — keys no option has (typos), values of the wrong type — one line
    /// each, reported by validation.
    /// </summary>
    internal List<string> ConfigurationErrors { get; } = [];

    /// <summary>Configured and command-line cameras, each with the configuration key that names it in errors.</summary>
    public IEnumerable<(string Key, CameraOptions Camera)> AllConfigured()
    {
        for (var i = 0; i < Cameras.Count; i++)
        {
            yield return (string.Create(CultureInfo.InvariantCulture, $"{CamerasSectionName}:{i}"), Cameras[i]);
        }

        for (var i = 0; i < CommandLineCameras.Count; i++)
        {
            yield return (string.Create(CultureInfo.InvariantCulture, $"--camera #{i + 1}"), CommandLineCameras[i]);
        }
    }

    /// <summary>The stall timeout for <paramref name="camera"/>: the configured one, but at least 3 frame intervals.</summary>
    public TimeSpan StallTimeoutFor(CameraOptions camera) => TimeSpan.FromSeconds(Math.Max(StallTimeoutSeconds, 3 / camera.Fps));

    /// <summary>The connect timeout for <paramref name="camera"/>: the configured one, but at least the stall timeout.</summary>
    public TimeSpan ConnectTimeoutFor(CameraOptions camera) => TimeSpan.FromSeconds(Math.Max(ConnectTimeoutSeconds, StallTimeoutFor(camera).TotalSeconds));
}
