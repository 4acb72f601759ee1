using System.Diagnostics;
using Detektor.Core.Telemetry;
using Detektor.Core.Tracing;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Detektor.Core.Tests.Tracing;

// The malformed counter is process-wide (static); tests that read it must not run in parallel with each other.
[Collection(nameof(MalformedCounterCollection))]
public class TraceContextPropagationTests
{
    private static readonly ActivityContext Context = new(
        ActivityTraceId.CreateFromString("0af7651916cd43dd8448eb211c80319c"),
        ActivitySpanId.CreateFromString("b7ad6b7169203331"),
        ActivityTraceFlags.Recorded,
        "congo=t61rcWkgMzE");

    [Fact]
    public void InjectExtract_Dictionary_RoundTrips()
    {
        var carrier = new Dictionary<string, string>();

        TraceContextPropagation.Inject(Context, carrier);
        var back = TraceContextPropagation.Extract(carrier);

        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", carrier["traceparent"]);
        Assert.Equal("congo=t61rcWkgMzE", carrier["tracestate"]);
        Assert.Equal(Context.TraceId, back.TraceId);
        Assert.Equal(Context.SpanId, back.SpanId);
        Assert.Equal(Context.TraceFlags, back.TraceFlags);
        Assert.Equal(Context.TraceState, back.TraceState);
        Assert.True(back.IsRemote);
    }

    [Fact]
    public void InjectExtract_HttpHeadersLikeCarrier_RoundTrips()
    {
        var headers = new List<KeyValuePair<string, string>>();

        TraceContextPropagation.Inject(Context, headers, static (h, k, v) => h.Add(new(k, v)));
        var back = TraceContextPropagation.Extract(headers, static (h, k) => h.Where(x => string.Equals(x.Key, k, StringComparison.OrdinalIgnoreCase)).Select(x => x.Value));

        Assert.Equal(Context.TraceId, back.TraceId);
        Assert.Equal(Context.SpanId, back.SpanId);
    }

    [Fact]
    public void ToTraceParent_FromTraceParent_RoundTrip()
    {
        var text = TraceContextPropagation.ToTraceParent(Context);
        var back = TraceContextPropagation.FromTraceParent(text, Context.TraceState);

        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", text);
        Assert.Equal(Context.TraceId, back.TraceId);
        Assert.Equal(Context.TraceState, back.TraceState);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331")]
    [InlineData("00-00000000000000000000000000000000-b7ad6b7169203331-01")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01")]
    [InlineData("zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [InlineData("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01-extra-stuff-that-is-too-long")]
    public void Extract_MalformedTraceParent_ReturnsEmptyAndCounts(string traceParent)
    {
        using var collector = new MetricCollector<long>(null, TelemetryNames.Core, "detektor.trace_context.malformed");

        var result = TraceContextPropagation.Extract(new Dictionary<string, string> { ["traceparent"] = traceParent });

        Assert.Equal(default, result);
        Assert.Equal(1, collector.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public void Extract_NoTraceParent_ReturnsEmptyWithoutCounting()
    {
        using var collector = new MetricCollector<long>(null, TelemetryNames.Core, "detektor.trace_context.malformed");

        var result = TraceContextPropagation.Extract(new Dictionary<string, string> { ["other"] = "x" });

        Assert.Equal(default, result);
        Assert.Equal(0, collector.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public void Extract_GetterThrows_ReturnsEmptyAndCounts()
    {
        using var collector = new MetricCollector<long>(null, TelemetryNames.Core, "detektor.trace_context.malformed");

        var result = TraceContextPropagation.Extract<object?>(null, static (_, _) => throw new InvalidOperationException("broken carrier"));

        Assert.Equal(default, result);
        Assert.Equal(1, collector.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public void TraceInfo_FromActivity_ChildStartsUnderIt()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "test.trace",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("test.trace");
        using var root = source.StartActivity("root")!;
        var info = TraceInfo.From(root);

        using var child = source.StartActivity("child", ActivityKind.Internal, info.ToActivityContext())!;

        Assert.Equal(root.TraceId, child.TraceId);
        Assert.Equal(root.SpanId, child.ParentSpanId);
    }
}

[CollectionDefinition(nameof(MalformedCounterCollection), DisableParallelization = true)]
public sealed class MalformedCounterCollection;
