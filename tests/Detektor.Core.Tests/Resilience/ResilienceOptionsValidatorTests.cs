using Detektor.Core.Resilience;

namespace Detektor.Core.Tests.Resilience;

public sealed class ResilienceOptionsValidatorTests
{
    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        var sut = new ResilienceOptionsValidator();
        var options = new ResilienceOptions();
        options.Breakers["objects"] = new CircuitBreakerOptions();

        Assert.True(sut.Validate(null, options).Succeeded);
    }

    [Fact]
    public void Validate_OutOfRangeValues_OneKeyedLineEach()
    {
        var sut = new ResilienceOptionsValidator();
        var options = new ResilienceOptions();
        options.Breakers["store"] = new CircuitBreakerOptions { FailureRatio = 0, MinimumThroughput = 1, SamplingDurationSeconds = 0.1, BreakDurationSeconds = 100_000 };
        options.Breakers["bad name"] = new CircuitBreakerOptions();

        var result = sut.Validate(null, options);

        Assert.Equal(
            [
                "Detektor:Resilience:Breakers:store:FailureRatio: 0 is out of range; allowed 0.01 to 1.",
                "Detektor:Resilience:Breakers:store:MinimumThroughput: 1 is out of range; allowed 2 to 100000.",
                "Detektor:Resilience:Breakers:store:SamplingDurationSeconds: 0.1 is out of range; allowed 0.5 to 86400.",
                "Detektor:Resilience:Breakers:store:BreakDurationSeconds: 100000 is out of range; allowed 0.5 to 86400.",
                "Detektor:Resilience:Breakers:bad name: 'bad name' is not a breaker name; use letters, digits, '_' or '-' (1 to 64).",
            ],
            result.Failures);
    }

    [Fact]
    public void For_UnconfiguredBreaker_ReturnsDefaults()
    {
        var sut = new ResilienceOptions();

        var o = sut.For("redis");

        Assert.Equal((0.5, 10, 30.0, 15.0), (o.FailureRatio, o.MinimumThroughput, o.SamplingDurationSeconds, o.BreakDurationSeconds));
    }
}
