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
}
