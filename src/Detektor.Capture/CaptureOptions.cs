using Detektor.Capture.Cameras;

namespace Detektor.Capture;

/// <summary>Options of the capture role (section <c>Detektor:Capture</c>; cameras in <c>Detektor:Cameras</c>).</summary>
public sealed class CaptureOptions
{
    public const string SectionName = "Detektor:Capture";
    public const string CamerasSectionName = "Detektor:Cameras";

    /// <summary>Path of the ffmpeg binary. Default: <c>ffmpeg</c> found on PATH.</summary>
    public string FfmpegPath { get; set; } = "ffmpeg";

    /// <summary>A stream that delivers no frame for this long is stalled: ffmpeg is killed and restarted. Default 10 s.</summary>
    public double StallTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// When no camera is configured, run this one (name <c>demo</c>). Default: the ffmpeg test pattern; the README's run
    /// command points it at real footage.
    /// </summary>
    public string? DemoUrl { get; set; } = "testsrc2://";

    public List<CameraOptions> Cameras { get; set; } = [];

    /// <summary>Cameras given with <c>detektor run --camera NAME=URL</c>; they run in addition to <see cref="Cameras"/>.</summary>
    public List<CameraOptions> CommandLineCameras { get; set; } = [];

    /// <summary>Configured and command-line cameras, each with the configuration key that names it in errors.</summary>
    public IEnumerable<(string Key, CameraOptions Camera)> AllConfigured()
    {
        for (var i = 0; i < Cameras.Count; i++)
        {
            yield return (string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{CamerasSectionName}:{i}"), Cameras[i]);
        }

        for (var i = 0; i < CommandLineCameras.Count; i++)
        {
            yield return (string.Create(System.Globalization.CultureInfo.InvariantCulture, $"--camera #{i + 1}"), CommandLineCameras[i]);
        }
    }
}
