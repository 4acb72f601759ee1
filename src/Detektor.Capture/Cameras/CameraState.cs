using System.Text.Json.Serialization;

namespace Detektor.Capture.Cameras;

/// <summary>Where a camera's connection is. Transitions: connecting → streaming → (stalled | reconnecting) → connecting …</summary>
public enum CameraState
{
    [JsonStringEnumMemberName("connecting")]
    Connecting,

    [JsonStringEnumMemberName("streaming")]
    Streaming,

    [JsonStringEnumMemberName("stalled")]
    Stalled,

    [JsonStringEnumMemberName("reconnecting")]
    Reconnecting,

    [JsonStringEnumMemberName("stopped")]
    Stopped,
}

/// <summary>Back-off between reconnect attempts: 1 s, 2 s, 5 s, 10 s, 20 s, then 30 s forever, each ±20 % jitter.</summary>
public static class ReconnectBackoff
{
    private static readonly double[] StepsSeconds = [1, 2, 5, 10, 20, 30];

    public static TimeSpan Delay(int attempt, Random random)
    {
        var baseSeconds = StepsSeconds[Math.Clamp(attempt, 0, StepsSeconds.Length - 1)];
        var jitter = 1 + ((random.NextDouble() * 0.4) - 0.2);
        return TimeSpan.FromSeconds(Math.Min(30, baseSeconds * jitter));
    }
}
