using Detektor.Detection.Gpu;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Detection.Tests.Gpu;

public class GpuMonitorTests
{
    [Fact]
    public void Read_WithoutNvml_ReportsAbsentAndNoReadings()
    {
        using var sut = new GpuMonitor(new FakeTimeProvider(), TimeSpan.FromSeconds(5), libraryPath: "/nonexistent/libnvidia-ml.so.1");

        Assert.False(sut.IsAvailable);
        Assert.Empty(sut.Read());
        Assert.StartsWith("absent:", sut.Status, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_OnThisMachine_NeverThrows()
    {
        using var sut = new GpuMonitor(TimeProvider.System, TimeSpan.Zero);

        var readings = sut.Read();

        Assert.Equal(sut.IsAvailable, readings.Count > 0);
        Assert.All(readings, r => Assert.InRange(r.TemperatureCelsius, 0, 130));
    }

    [Fact]
    public void Evaluate_NoGpu_IsHealthyAndSaysAbsent()
    {
        var result = GpuHealthCheck.Evaluate(false, "absent: no driver", [], 80);

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(false, result.Data["present"]);
    }

    [Fact]
    public void Evaluate_GpuAboveMaxTemperature_IsDegraded()
    {
        GpuReading[] readings = [new(0, "H100", 50, 1UL << 30, 80UL << 30, 70), new(1, "H100", 90, 2UL << 30, 80UL << 30, 86)];

        var hot = GpuHealthCheck.Evaluate(true, "present", readings, 80);
        var fine = GpuHealthCheck.Evaluate(true, "present", readings, 90);

        Assert.Equal(HealthStatus.Degraded, hot.Status);
        Assert.Contains("GPU 1 at 86 °C", hot.Description, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Healthy, fine.Status);
        Assert.Equal(86.0, fine.Data["gpu1_temperature_celsius"]);
    }

    [Fact]
    public void Evaluate_GpuMemoryNearlyFull_IsDegradedNamingTheShare()
    {
        GpuReading[] readings = [new(0, "H100", 40, 77UL << 30, 80UL << 30, 60)];

        var full = GpuHealthCheck.Evaluate(true, "present", readings, new GpuExpectation(80, MaxMemoryUsedRatio: 0.95));
        var roomy = GpuHealthCheck.Evaluate(true, "present", readings, new GpuExpectation(80, MaxMemoryUsedRatio: 0.97));

        Assert.Equal(HealthStatus.Degraded, full.Status);
        Assert.Equal("GPU 0 memory 96% used (78848 of 81920 MiB)", full.Description?.Replace(" %", "%", StringComparison.Ordinal));
        Assert.Equal(0.9625, full.Data["gpu0_memory_used_ratio"]);
        Assert.Equal(HealthStatus.Healthy, roomy.Status);
    }

    [Fact]
    public void Evaluate_CudaConfiguredWithoutGpu_IsDegradedNamingTheKey()
    {
        var sut = GpuHealthCheck.Evaluate(false, "absent: no driver", [], new GpuExpectation(80, 0.95, "cuda"));

        Assert.Equal(HealthStatus.Degraded, sut.Status);
        Assert.Equal("cuda is configured (Detektor:Detection:ExecutionProviders) but there is no GPU: absent: no driver", sut.Description);
        Assert.Equal("cuda", sut.Data["wanted_provider"]);
    }

    [Fact]
    public void Evaluate_TensorRtConfiguredButADetectorFellBackToCpu_IsDegradedNamingTheDetector()
    {
        GpuReading[] readings = [new(0, "H100", 10, 1UL << 30, 80UL << 30, 40)];
        var providers = new Dictionary<string, string> { ["objects"] = "cpu", ["faces"] = "tensorrt" };

        var sut = GpuHealthCheck.Evaluate(true, "present", readings, new GpuExpectation(80, 0.95, "tensorrt", providers));
        var onGpu = GpuHealthCheck.Evaluate(true, "present", readings, new GpuExpectation(80, 0.95, "tensorrt", new Dictionary<string, string> { ["objects"] = "cuda" }));

        Assert.Equal(HealthStatus.Degraded, sut.Status);
        Assert.Equal("detector objects runs on cpu, not tensorrt (see its fallback reasons in the log)", sut.Description);
        Assert.Equal("tensorrt", sut.Data["detector_faces_provider"]);
        Assert.Equal(HealthStatus.Healthy, onGpu.Status); // cuda serves a tensorrt request well enough: both are the GPU
    }

    [Fact]
    public void Read_FromASource_CachedForThePollInterval()
    {
        var time = new FakeTimeProvider();
        var calls = 0;
        using var sut = new GpuMonitor(time, TimeSpan.FromSeconds(5), () => [new GpuReading(0, "test", ++calls, 0, 0, 50)], 1, "present: test");

        var first = sut.Read();
        var cached = sut.Read();
        time.Advance(TimeSpan.FromSeconds(5));
        var fresh = sut.Read();

        Assert.True(sut.IsAvailable);
        Assert.Same(first, cached);
        Assert.Equal(2.0, fresh[0].UtilizationPercent);
        Assert.Equal(2, calls);
    }
}
