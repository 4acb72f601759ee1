using Detektor.Capture.Ffmpeg;

namespace Detektor.Capture.Demo;

/// <summary>What the demo camera plays, and why.</summary>
/// <param name="Url">The camera URL.</param>
/// <param name="FootageFound">True when it plays real footage, false for the test pattern fallback.</param>
/// <param name="Searched">The places looked at for the footage, in order.</param>
/// <param name="Note">A line for the log explaining the choice.</param>
public sealed record DemoCameraChoice(string Url, bool FootageFound, IReadOnlyList<string> Searched, string Note);

/// <summary>
/// Chooses what the demo camera (run when no camera is configured) plays, first match wins:
/// <list type="number">
/// <item><c>Detektor:Capture:DemoUrl</c> when set (a file URL only if the file exists);</item>
/// <item><c>$DETEKTOR_FOOTAGE/vtest.mp4</c>;</item>
/// <item><c>{DataDir}/footage/vtest.mp4</c>;</item>
/// <item><c>.cache/footage/vtest.mp4</c> of the source checkout (found from the working directory or the program's
/// directory upwards: the folder with <c>Detektor.slnx</c>), where <c>scripts/setup.sh</c> puts it — only when
/// <c>DETEKTOR_FOOTAGE</c> is not set (a footage directory named explicitly is the only one searched besides the data dir);</item>
/// <item>else the ffmpeg test pattern <c>testsrc2://</c>, with a log line saying how to get the footage.</item>
/// </list>
/// </summary>
public static class DemoCameraResolver
{
    public const string FootageFile = "vtest.mp4";
    public const string FallbackUrl = "testsrc2://";
    public const string FootageVariable = "DETEKTOR_FOOTAGE";
    public const string HowToGetFootage =
        "run scripts/setup.sh (it fetches Debian's opencv-doc footage into .cache/footage) or put vtest.mp4 into {DataDir}/footage";

    public static DemoCameraChoice Resolve(CaptureOptions options) =>
        Resolve(options.DemoUrl, Candidates(options.DataDir, Environment.GetEnvironmentVariable(FootageVariable), Directory.GetCurrentDirectory(), AppContext.BaseDirectory));

    /// <summary>Resolves against an explicit candidate list (for tests).</summary>
    public static DemoCameraChoice Resolve(string? demoUrl, IReadOnlyList<string> candidates)
    {
        var searched = new List<string>();
        string? missingConfigured = null;
        if (!string.IsNullOrWhiteSpace(demoUrl))
        {
            if (!CameraUrl.IsFile(demoUrl))
            {
                return new DemoCameraChoice(demoUrl, CameraUrl.KindOf(demoUrl) != CameraUrlKind.TestPattern, [], "Demo camera plays Detektor:Capture:DemoUrl.");
            }

            var path = CameraUrl.FilePath(demoUrl);
            searched.Add(path);
            if (File.Exists(path))
            {
                return new DemoCameraChoice(demoUrl, true, searched, $"Demo camera plays {path} (Detektor:Capture:DemoUrl), looped.");
            }

            missingConfigured = path;
        }

        foreach (var candidate in candidates)
        {
            searched.Add(candidate);
            if (File.Exists(candidate))
            {
                var note = missingConfigured is null
                    ? $"Demo camera plays {candidate}, looped."
                    : $"Demo camera: {missingConfigured} (Detektor:Capture:DemoUrl) does not exist; playing {candidate}, looped.";
                return new DemoCameraChoice("file://" + candidate, true, searched, note);
            }
        }

        return new DemoCameraChoice(
            FallbackUrl,
            false,
            searched,
            $"Demo camera: no footage found (looked at {string.Join(", ", searched)}); playing the ffmpeg test pattern instead. To see real people: {HowToGetFootage}.");
    }

    /// <summary>The places the footage is looked for, in order.</summary>
    public static IReadOnlyList<string> Candidates(string? dataDir, string? footageDir, params string[] startDirectories)
    {
        var list = new List<string>();
        if (!string.IsNullOrWhiteSpace(footageDir))
        {
            list.Add(Path.GetFullPath(Path.Combine(footageDir, FootageFile)));
        }

        if (!string.IsNullOrWhiteSpace(dataDir))
        {
            list.Add(Path.GetFullPath(Path.Combine(dataDir, "footage", FootageFile)));
        }

        if (!string.IsNullOrWhiteSpace(footageDir))
        {
            return list; // named explicitly: no guessing beyond it and the data directory
        }

        foreach (var start in startDirectories)
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Detektor.slnx")))
                {
                    var path = Path.Combine(dir.FullName, ".cache", "footage", FootageFile);
                    if (!list.Contains(path, StringComparer.Ordinal))
                    {
                        list.Add(path);
                    }

                    break;
                }
            }
        }

        return list;
    }
}
