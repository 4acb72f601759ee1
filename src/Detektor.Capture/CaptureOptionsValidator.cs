using System.Globalization;
using Detektor.Capture.Cameras;
using Detektor.Capture.Ffmpeg;
using Detektor.Capture.Motion;
using Detektor.Core.Frames;
using Detektor.Core.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Detektor.Capture;

/// <summary>
/// Checks the capture configuration at start. Each failure is one line that names the configuration key and what is
/// allowed, e.g. <c>Detektor:Cameras:1:Fps: 500 is out of range; allowed 0.1 to 120.</c> Secrets in URLs are masked.
/// </summary>
public sealed class CaptureOptionsValidator : IValidateOptions<CaptureOptions>
{
    public static readonly IReadOnlyList<string> CaptureKeys = ["FfmpegPath", "StallTimeoutSeconds", "ConnectTimeoutSeconds", "DemoCamera", "DemoUrl", "PixelFormat", "Motion"];

    public static readonly IReadOnlyList<string> MotionKeys = ["Enabled", "AnalysisWidth", "PixelThreshold", "BackgroundRate", "ScoreThreshold", "MinBoxArea", "MaxBoxes"];

    public ValidateOptionsResult Validate(string? name, CaptureOptions options)
    {
        var errors = new List<string>(options.ConfigurationErrors);
        var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, camera) in options.AllConfigured())
        {
            if (!CameraId.IsValid(camera.Name))
            {
                errors.Add(string.IsNullOrEmpty(camera.Name)
                    ? $"{key}:Name: is required; use {CameraId.Rule}."
                    : $"{key}:Name: '{camera.Name}' is not allowed; use {CameraId.Rule}.");
            }
            else if (!seen.TryAdd(camera.Name, key))
            {
                errors.Add($"{key}:Name: '{camera.Name}' is already the name of {seen[camera.Name]}; camera names must be unique (case does not count).");
            }

            errors.AddRange(ValidateCamera(key, camera));
        }

        var section = CaptureOptions.SectionName;
        var configuredCount = options.Cameras.Count + options.CommandLineCameras.Count;
        if (!string.IsNullOrWhiteSpace(options.DemoUrl) && CameraUrl.KindOf(options.DemoUrl) == CameraUrlKind.Unsupported)
        {
            errors.Add($"{section}:DemoUrl: '{SecretMasker.MaskSecrets(options.DemoUrl)}' is not a supported URL; use {CameraUrl.Allowed}.");
        }

        if (double.IsNaN(options.StallTimeoutSeconds) || options.StallTimeoutSeconds is < 1 or > 600)
        {
            errors.Add($"{section}:StallTimeoutSeconds: {Num(options.StallTimeoutSeconds)} is out of range; allowed 1 to 600.");
        }

        if (double.IsNaN(options.ConnectTimeoutSeconds) || options.ConnectTimeoutSeconds is < 1 or > 600)
        {
            errors.Add($"{section}:ConnectTimeoutSeconds: {Num(options.ConnectTimeoutSeconds)} is out of range; allowed 1 to 600.");
        }

        if (!PixelFormats.Capture.Contains(options.PixelFormat, StringComparer.Ordinal))
        {
            errors.Add($"{section}:PixelFormat: '{options.PixelFormat}' is not allowed; use {string.Join(" or ", PixelFormats.Capture)}.");
        }

        errors.AddRange(ValidateMotion($"{section}:Motion", options.Motion));

        var anyCamera = configuredCount == 0 ? options.DemoCamera : options.AllConfigured().Any(c => c.Camera.Enabled);
        if (anyCamera && FfmpegLocator.Resolve(options.FfmpegPath) is null)
        {
            errors.Add($"{section}:FfmpegPath: ffmpeg was not found at '{options.FfmpegPath}' (nor on PATH); install it (apt-get install ffmpeg) or set the full path of the binary.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static IEnumerable<string> ValidateCamera(string key, CameraOptions camera)
    {
        var kind = CameraUrl.KindOf(camera.Url);
        if (string.IsNullOrWhiteSpace(camera.Url))
        {
            yield return $"{key}:Url: is required; use {CameraUrl.Allowed}.";
        }
        else if (kind == CameraUrlKind.Unsupported)
        {
            yield return $"{key}:Url: '{SecretMasker.MaskSecrets(camera.Url)}' is not a supported camera URL; use {CameraUrl.Allowed}.";
        }
        else if (kind == CameraUrlKind.File && camera.Enabled && !File.Exists(CameraUrl.FilePath(camera.Url)))
        {
            yield return $"{key}:Url: the file '{CameraUrl.FilePath(camera.Url)}' does not exist; use an existing video file.";
        }

        if (camera.Width is < 32 or > 7680 || camera.Width % 2 != 0)
        {
            yield return $"{key}:Width: {camera.Width} is out of range; allowed even numbers from 32 to 7680.";
        }

        if (camera.Height is < 32 or > 4320 || camera.Height % 2 != 0)
        {
            yield return $"{key}:Height: {camera.Height} is out of range; allowed even numbers from 32 to 4320.";
        }

        if (double.IsNaN(camera.Fps) || camera.Fps is < 0.1 or > 120)
        {
            yield return $"{key}:Fps: {Num(camera.Fps)} is out of range; allowed 0.1 to 120.";
        }

        if (camera.Transport is not ("tcp" or "udp"))
        {
            yield return $"{key}:Transport: '{camera.Transport}' is not allowed; use tcp or udp.";
        }

        for (var i = 0; i < camera.InputArgs.Count; i++)
        {
            var arg = camera.InputArgs[i];
            if (string.IsNullOrWhiteSpace(arg))
            {
                yield return $"{key}:InputArgs:{i}: is empty; each item is one ffmpeg argument, e.g. [\"-hwaccel\", \"vaapi\"].";
            }
            else if (arg == "-i")
            {
                yield return $"{key}:InputArgs:{i}: '{arg}' is not allowed here; input arguments go before the camera's own -i (use -hwaccel, -c:v, -analyzeduration, …).";
            }
        }
    }

    internal static IEnumerable<string> ValidateMotion(string key, MotionOptions motion)
    {
        if (motion.AnalysisWidth is < 16 or > 640)
        {
            yield return $"{key}:AnalysisWidth: {motion.AnalysisWidth} is out of range; allowed 16 to 640.";
        }

        if (motion.PixelThreshold is < 1 or > 255)
        {
            yield return $"{key}:PixelThreshold: {motion.PixelThreshold} is out of range; allowed 1 to 255.";
        }

        if (double.IsNaN(motion.BackgroundRate) || motion.BackgroundRate is < 0.001 or > 1)
        {
            yield return $"{key}:BackgroundRate: {Num(motion.BackgroundRate)} is out of range; allowed 0.001 to 1.";
        }

        if (double.IsNaN(motion.ScoreThreshold) || motion.ScoreThreshold is < 0 or > 1)
        {
            yield return $"{key}:ScoreThreshold: {Num(motion.ScoreThreshold)} is out of range; allowed 0 to 1.";
        }

        if (double.IsNaN(motion.MinBoxArea) || motion.MinBoxArea is < 0 or > 1)
        {
            yield return $"{key}:MinBoxArea: {Num(motion.MinBoxArea)} is out of range; allowed 0 to 1.";
        }

        if (motion.MaxBoxes is < 1 or > 256)
        {
            yield return $"{key}:MaxBoxes: {motion.MaxBoxes} is out of range; allowed 1 to 256.";
        }
    }

    /// <summary>Keys under the capture and camera sections that no option has, one error line each.</summary>
    internal static IEnumerable<string> FindUnknownKeys(IConfiguration configuration, string commandLineCamerasSection)
    {
        foreach (var child in configuration.GetSection(CaptureOptions.SectionName).GetChildren())
        {
            if (!CaptureKeys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                yield return $"{child.Path}: unknown key; allowed: {string.Join(", ", CaptureKeys)}.";
            }
            else if (string.Equals(child.Key, "Motion", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var motion in child.GetChildren())
                {
                    if (!MotionKeys.Contains(motion.Key, StringComparer.OrdinalIgnoreCase))
                    {
                        yield return $"{motion.Path}: unknown key; allowed: {string.Join(", ", MotionKeys)}.";
                    }
                }
            }
        }

        foreach (var sectionName in new[] { CaptureOptions.CamerasSectionName, commandLineCamerasSection })
        {
            foreach (var camera in configuration.GetSection(sectionName).GetChildren())
            {
                if (!int.TryParse(camera.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    yield return $"{camera.Path}: cameras are a list; use {sectionName}:0:Name, {sectionName}:0:Url, … (YAML: a sequence; environment: {sectionName.Replace(":", "__", StringComparison.Ordinal)}__0__Url).";
                    continue;
                }

                if (camera.Value is not null && !camera.GetChildren().Any())
                {
                    yield return $"{camera.Path}: a camera is an object with {string.Join(", ", CameraOptions.Keys)}.";
                    continue;
                }

                foreach (var field in camera.GetChildren())
                {
                    if (!CameraOptions.Keys.Contains(field.Key, StringComparer.OrdinalIgnoreCase))
                    {
                        yield return $"{field.Path}: unknown key; allowed: {string.Join(", ", CameraOptions.Keys)}.";
                    }
                }
            }
        }
    }

    /// <summary>Values of a camera section that cannot be converted to their option's type, one line each.</summary>
    internal static IEnumerable<string> FindUnconvertibleValues(IConfigurationSection camera)
    {
        foreach (var field in camera.GetChildren())
        {
            if (field.Value is not { } value)
            {
                continue;
            }

            var problem = field.Key.ToLowerInvariant() switch
            {
                "width" or "height" when !int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _) => "is not a whole number",
                "fps" when !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _) => "is not a number",
                "enabled" or "loop" when !bool.TryParse(value, out _) => "is not true or false",
                _ => null,
            };
            if (problem is not null)
            {
                yield return $"{field.Path}: '{SecretMasker.MaskSecrets(value)}' {problem}.";
            }
        }
    }

    private static string Num(double value) => value.ToString(CultureInfo.InvariantCulture);
}
