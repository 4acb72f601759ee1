using System.Globalization;
using Detektor.Capture.Cameras;
using Detektor.Capture.Ffmpeg;
using Detektor.Core.Frames;
using Detektor.Core.Security;
using Microsoft.Extensions.Options;

namespace Detektor.Capture;

/// <summary>
/// Checks the capture configuration at start. Each failure is one line that names the configuration key and what is
/// allowed, e.g. <c>Detektor:Cameras:1:Fps: 500 is out of range; allowed 0.1 to 120.</c>
/// </summary>
public sealed class CaptureOptionsValidator : IValidateOptions<CaptureOptions>
{
    public ValidateOptionsResult Validate(string? name, CaptureOptions options)
    {
        var errors = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, camera) in options.AllConfigured())
        {
            if (!CameraId.IsValid(camera.Name))
            {
                errors.Add($"{key}:Name: '{camera.Name}' is not allowed; use {CameraId.Rule}.");
            }
            else if (!seen.Add(camera.Name))
            {
                errors.Add($"{key}:Name: '{camera.Name}' is used by another camera; camera names must be unique.");
            }

            errors.AddRange(ValidateCamera(key, camera));
        }

        var configuredCount = options.Cameras.Count + options.CommandLineCameras.Count;
        if (configuredCount == 0 && !string.IsNullOrWhiteSpace(options.DemoUrl) &&
            CameraUrl.KindOf(options.DemoUrl) == CameraUrlKind.Unsupported)
        {
            errors.Add($"{CaptureOptions.SectionName}:DemoUrl: '{SecretMasker.MaskSecrets(options.DemoUrl)}' is not a supported URL; use rtsp://, http(s)://, file:// or a path, or testsrc2://.");
        }

        if (options.StallTimeoutSeconds is < 1 or > 600)
        {
            errors.Add($"{CaptureOptions.SectionName}:StallTimeoutSeconds: {options.StallTimeoutSeconds} is out of range; allowed 1 to 600.");
        }

        var anyCamera = CaptureService.EffectiveCameras(options).Count > 0;
        if (anyCamera && FfmpegLocator.Resolve(options.FfmpegPath) is null)
        {
            errors.Add($"{CaptureOptions.SectionName}:FfmpegPath: ffmpeg was not found at '{options.FfmpegPath}' or on PATH; install it (apt-get install ffmpeg) or set the path.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static IEnumerable<string> ValidateCamera(string key, CameraOptions camera)
    {
        var kind = CameraUrl.KindOf(camera.Url);
        if (kind == CameraUrlKind.Unsupported)
        {
            yield return $"{key}:Url: '{SecretMasker.MaskSecrets(camera.Url)}' is not a supported camera URL; use rtsp://, rtsps://, http(s)://, file:// or an absolute path, or testsrc:// / testsrc2://.";
        }
        else if (kind == CameraUrlKind.File && camera.Enabled && !File.Exists(CameraUrl.FilePath(camera.Url)))
        {
            yield return $"{key}:Url: the file '{CameraUrl.FilePath(camera.Url)}' does not exist.";
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
            yield return $"{key}:Fps: {camera.Fps.ToString(CultureInfo.InvariantCulture)} is out of range; allowed 0.1 to 120.";
        }

        if (camera.Transport is not ("tcp" or "udp"))
        {
            yield return $"{key}:Transport: '{camera.Transport}' is not allowed; use tcp or udp.";
        }
    }
}

/// <summary>Finds the ffmpeg binary.</summary>
public static class FfmpegLocator
{
    /// <summary>The full path of <paramref name="configured"/> (a path, or a name looked up on PATH), or null.</summary>
    public static string? Resolve(string configured)
    {
        if (string.IsNullOrWhiteSpace(configured))
        {
            return null;
        }

        if (configured.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(configured) ? Path.GetFullPath(configured) : null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, configured);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
