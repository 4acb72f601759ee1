namespace Detektor.Capture.Ffmpeg;

/// <summary>Finds the ffmpeg binary.</summary>
public static class FfmpegLocator
{
    /// <summary>The full path of <paramref name="configured"/> (a path, or a name looked up on PATH), or null.</summary>
    public static string? Resolve(string? configured)
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
