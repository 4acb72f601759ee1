namespace Detektor.Capture.Cameras;

/// <summary>
/// One camera (an item of <c>Detektor:Cameras</c>). Supported URLs: <c>rtsp://</c>, <c>rtsps://</c>, <c>http(s)://</c>
/// (MJPEG, HLS), <c>file://</c> or an absolute path, and ffmpeg test patterns <c>testsrc://</c>, <c>testsrc2://</c>, ….
/// </summary>
public sealed class CameraOptions
{
    /// <summary>The keys a camera accepts (anything else under a camera is reported as unknown).</summary>
    public static readonly IReadOnlyList<string> Keys = ["Name", "Url", "Enabled", "Width", "Height", "Fps", "Transport", "Loop", "InputArgs"];

    /// <summary>Camera id: 1–64 letters, digits, '_' or '-'. Required, unique.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>Where to read from. Credentials in the URL are masked everywhere they could leave the process.</summary>
    public string Url { get; set; } = string.Empty;

    /// <summary>Disabled cameras are validated but not run. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Width of the frames handed to detection (ffmpeg scales). Even, 32–7680, default 640.</summary>
    public int Width { get; set; } = 640;

    /// <summary>Height of the frames handed to detection. Even, 32–4320, default 480.</summary>
    public int Height { get; set; } = 480;

    /// <summary>Frames per second read from the camera (ffmpeg drops or duplicates to this rate). 0.1–120, default 5.</summary>
    public double Fps { get; set; } = 5;

    /// <summary>RTSP transport: <c>tcp</c> (default, robust) or <c>udp</c>.</summary>
    public string Transport { get; set; } = "tcp";

    /// <summary>For files: start again at the end (default true); otherwise the camera stops at the end of the file.</summary>
    public bool Loop { get; set; } = true;

    /// <summary>Extra ffmpeg arguments placed before <c>-i</c>, one per item (e.g. <c>["-hwaccel", "vaapi"]</c>).</summary>
    public List<string> InputArgs { get; set; } = [];
}
