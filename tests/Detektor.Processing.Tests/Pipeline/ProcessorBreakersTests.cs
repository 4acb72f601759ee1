using System.Diagnostics.Metrics;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Resilience;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;

namespace Detektor.Processing.Tests.Pipeline;

public sealed class ProcessorBreakersTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new();

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task ProcessAsync_FailOpenBreakerOpen_SkipsAsDetectorUnavailableWithoutCallingTheProcessor()
    {
        var processor = new Faulty("objects") { Failing = true };
        var sut = Create(new ProcessingOptions(), processor);
        await FailTwiceAsync(sut, processor);
        processor.Failing = false;

        var result = await sut.ProcessAsync(processor, Frame(), CancellationToken.None);

        Assert.Equal(ProcessorResult.Skip(SkipReasons.DetectorUnavailable), result);
        Assert.Equal(2, processor.Calls);
        Assert.True(sut.For("objects")!.IsOpen);
    }

    [Fact]
    public async Task ProcessAsync_FailClosedBreakerOpen_ThrowsBrokenCircuit()
    {
        var processor = new Faulty("objects") { Failing = true };
        var options = new ProcessingOptions();
        options.Processors["objects"] = new ProcessorPolicyOptions { OnBreakerOpen = "failclosed" };
        var sut = Create(options, processor);
        await FailTwiceAsync(sut, processor);

        await Assert.ThrowsAsync<BrokenCircuitException>(() => sut.ProcessAsync(processor, Frame(), CancellationToken.None).AsTask());
        Assert.Equal(2, processor.Calls);
    }

    [Fact]
    public async Task ProcessAsync_BreakOverAndFaultGone_ProbePassesAndBreakerCloses()
    {
        var processor = new Faulty("objects") { Failing = true };
        var sut = Create(new ProcessingOptions(), processor);
        await FailTwiceAsync(sut, processor);
        processor.Failing = false;
        _time.Advance(TimeSpan.FromSeconds(1));

        var result = await sut.ProcessAsync(processor, Frame(), CancellationToken.None);

        Assert.Equal(ProcessorResult.Continue, result);
        Assert.Equal(BreakerState.Closed, sut.For("objects")!.State);
    }

    [Fact]
    public async Task ProcessAsync_ProcessorWithoutBreaker_FailuresPassThroughAndNoBreakerExists()
    {
        var processor = new Faulty("tracker", usesBreaker: false) { Failing = true };
        var sut = Create(new ProcessingOptions(), processor);

        for (var i = 0; i < 5; i++)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => sut.ProcessAsync(processor, Frame(), CancellationToken.None).AsTask());
        }

        Assert.Null(sut.For("tracker"));
        Assert.Equal(5, processor.Calls);
    }

    [Theory]
    [InlineData(null, BreakerOpenPolicy.FailOpen)]
    [InlineData("FailOpen", BreakerOpenPolicy.FailOpen)]
    [InlineData("FailClosed", BreakerOpenPolicy.FailClosed)]
    [InlineData("failclosed", BreakerOpenPolicy.FailClosed)]
    public void OnBreakerOpen_Configured_MapsToPolicy(string? configured, BreakerOpenPolicy expected)
    {
        var sut = new ProcessingOptions();
        if (configured is not null)
        {
            sut.Processors["faces"] = new ProcessorPolicyOptions { OnBreakerOpen = configured };
        }

        Assert.Equal(expected, sut.OnBreakerOpen("faces"));
    }

    [Fact]
    public void Validate_UnknownPolicy_OneKeyedLine()
    {
        var options = new ProcessorPoliciesOptions();
        options.Processors["objects"] = new ProcessorPolicyOptions { OnBreakerOpen = "Drop" };
        options.Processors["faces"] = new ProcessorPolicyOptions { OnBreakerOpen = "FailClosed" };

        var result = new ProcessorPoliciesValidator().Validate(null, options);

        Assert.Equal(["Detektor:Processing:Processors:objects:OnBreakerOpen: 'Drop' is not allowed; use one of: FailOpen, FailClosed."], result.Failures);
    }

    private ProcessorBreakers Create(ProcessingOptions options, FrameProcessor processor)
    {
        var resilience = new ResilienceOptions();
        resilience.Breakers[processor.Name] = new CircuitBreakerOptions { MinimumThroughput = 2, FailureRatio = 1, BreakDurationSeconds = 1 };
        var breakers = new CircuitBreakers(
            Options.Create(resilience), new ResilienceTelemetry(_services.GetRequiredService<IMeterFactory>()), _time, NullLogger<CircuitBreakers>.Instance);
        return new ProcessorBreakers([processor], breakers, Options.Create(options));
    }

    private static async Task FailTwiceAsync(ProcessorBreakers sut, Faulty processor)
    {
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => sut.ProcessAsync(processor, Frame(), CancellationToken.None).AsTask());
        }
    }

    private static FrameContext Frame() => new(new FrameMessage(
        new FrameMetadata { FrameId = new FrameIdGenerator(TimeProvider.System, 1).Next("cam", 1), CameraId = "cam", CaptureTime = DateTimeOffset.UnixEpoch }, null));

    private sealed class Faulty(string name, bool usesBreaker = true) : FrameProcessor
    {
        public bool Failing { get; set; }

        public int Calls { get; private set; }

        public override string Name => name;

        public override bool UsesCircuitBreaker => usesBreaker;

        public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
        {
            Calls++;
            return Failing ? throw new InvalidOperationException("inference failed") : ValueTask.FromResult(ProcessorResult.Continue);
        }
    }
}
