namespace Detektor.Capture.Cameras;

/// <summary>
/// Delay before reconnect attempt <c>n</c> (0-based): 1 s, 2 s, 5 s, 10 s, 20 s, then 30 s forever — each with ±20 % jitter
/// so that many cameras behind one switch do not reconnect in lock-step — and never more than 30 s. It never gives up.
/// </summary>
public static class ReconnectBackoff
{
    public static readonly TimeSpan Cap = TimeSpan.FromSeconds(30);

    private static readonly double[] StepsSeconds = [1, 2, 5, 10, 20, 30];

    /// <summary>The delay before attempt <paramref name="attempt"/>; <paramref name="random"/> supplies the jitter.</summary>
    public static TimeSpan Delay(int attempt, Random random)
    {
        var baseSeconds = StepsSeconds[Math.Clamp(attempt, 0, StepsSeconds.Length - 1)];
        var jitter = 1 + ((random.NextDouble() * 0.4) - 0.2);
        return TimeSpan.FromSeconds(Math.Min(Cap.TotalSeconds, baseSeconds * jitter));
    }
}
