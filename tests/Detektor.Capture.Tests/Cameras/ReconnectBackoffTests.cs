using Detektor.Capture.Cameras;

namespace Detektor.Capture.Tests.Cameras;

public sealed class ReconnectBackoffTests
{
    [Fact]
    public void Delay_Attempts_FollowStepsWithJitterAndCapAt30Seconds()
    {
        double[] steps = [1, 2, 5, 10, 20, 30, 30, 30];
        var random = new Random(3);

        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var sut = ReconnectBackoff.Delay(attempt, random).TotalSeconds;
            var step = steps[Math.Min(attempt, steps.Length - 1)];

            Assert.InRange(sut, step * 0.8, Math.Min(30, step * 1.2));
        }
    }

    [Fact]
    public void Delay_SameAttempt_Jittered()
    {
        var random = new Random(5);

        var delays = Enumerable.Range(0, 20).Select(_ => ReconnectBackoff.Delay(2, random)).Distinct().Count();

        Assert.True(delays > 10, "cameras reconnecting together spread out");
    }

    [Fact]
    public void Delay_HugeAttemptNumber_StillCapped() =>
        Assert.True(ReconnectBackoff.Delay(int.MaxValue, new Random(1)) <= ReconnectBackoff.Cap);
}
