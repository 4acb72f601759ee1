using System.Globalization;

namespace Detektor.LoadTest;

/// <summary>How the pipeline is deployed for a load test.</summary>
public enum LoadTestMode
{
    /// <summary>One <c>detektor run</c> child with every role, the in-process bus and SQLite.</summary>
    AllInOne,

    /// <summary>Three children (store+api, process, capture) over Redis Streams, storing in PostgreSQL (or SQLite).</summary>
    Distributed,
}

/// <summary>Where the synthetic cameras' frames come from.</summary>
public enum LoadTestSource
{
    /// <summary>ffmpeg's lavfi <c>testsrc2</c>: a moving pattern, no file needed.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("testsrc")]
    TestSource,

    /// <summary>A video file looped by ffmpeg (default <c>$DETEKTOR_FOOTAGE/vtest.mp4</c>): a real moving scene.</summary>
    Footage,
}

/// <summary>What <c>detektor loadtest</c> was asked to do. Defaults are what a 2-core box sustains.</summary>
public sealed record LoadTestOptions
{
    public int Cameras { get; init; } = 8;

    public double Fps { get; init; } = 30;

    /// <summary>How long frames are measured, after the warm-up.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Run time before measuring starts: its frames are accounted but not in the latency figures; RSS is sampled at its end.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait, after capture stops, for the frames still in flight to reach a terminal state.</summary>
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(60);

    public LoadTestSource Source { get; init; } = LoadTestSource.TestSource;

    /// <summary>The looped file for <see cref="LoadTestSource.Footage"/>.</summary>
    public string? FootagePath { get; init; }

    public int Width { get; init; } = 640;

    public int Height { get; init; } = 360;

    public LoadTestMode Mode { get; init; } = LoadTestMode.AllInOne;

    /// <summary>Redis (HOST:PORT) for <see cref="LoadTestMode.Distributed"/>.</summary>
    public string? Redis { get; init; }

    /// <summary>PostgreSQL connection string; null stores in SQLite.</summary>
    public string? Postgres { get; init; }

    public bool Detect { get; init; } = true;

    /// <summary>Detect at most this many frames per second per camera (Detektor:Detection:DetectFps).</summary>
    public double DetectFps { get; init; } = 1;

    /// <summary>Where the detection models are (Detektor:Detection:ModelsDirectory); null: the child's default (pulls).</summary>
    public string? ModelsDirectory { get; init; }

    /// <summary>Share of frames traced (Detektor:Hosting:TraceSampleRatio).</summary>
    public double TraceSampleRatio { get; init; } = 1.0;

    /// <summary>Further configuration for every child, KEY=VALUE.</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];

    public bool Json { get; init; }

    /// <summary>Keep the work directory (children's data and logs) after the run.</summary>
    public bool Keep { get; init; }

    public LoadTestGates Gates { get; init; } = new();

    /// <summary>Frames per second the cameras deliver together.</summary>
    public double OfferedFps => Cameras * Fps;

    /// <summary>Reads a duration: <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>1500ms</c> or plain seconds.</summary>
    public static bool TryParseDuration(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim().ToLowerInvariant();
        var (number, scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || double.IsInfinity(value))
        {
            return false;
        }

        duration = TimeSpan.FromSeconds(value * scale);
        return true;
    }

    /// <summary>Reads a frame size <c>WIDTHxHEIGHT</c> (even, 32–7680 by 32–4320, as cameras accept).</summary>
    public static bool TryParseSize(string? text, out int width, out int height)
    {
        width = height = 0;
        var parts = text?.Split('x', 'X');
        return parts is { Length: 2 } &&
               int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out width) &&
               int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out height) &&
               width is >= 32 and <= 7680 && height is >= 32 and <= 4320 && width % 2 == 0 && height % 2 == 0;
    }
}
