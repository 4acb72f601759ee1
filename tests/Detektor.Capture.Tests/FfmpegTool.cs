using System.Diagnostics;
using Detektor.Testing;

namespace Detektor.Capture.Tests;

/// <summary>Runs the real ffmpeg to make test inputs (clips, JPEG frames, HLS segments).</summary>
public static class FfmpegTool
{
    public static async Task RunAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo(RequiredTool.Find("ffmpeg"))
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["-hide_banner", "-loglevel", "error", "-y", .. arguments])
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg {string.Join(' ', arguments)} failed: {await stderr}");
        }
    }
}
