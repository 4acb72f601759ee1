using System.Globalization;
using Detektor.Hosting.Health;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Hosting.Tests;

/// <summary>The <c>cpu</c> check: counters parsed from fake /proc/stat and cgroup files, and a real CPU burn in this process.</summary>
public sealed class CpuHealthCheckTests
{
    private static IOptions<HostingOptions> Options(double degraded, double unhealthy, TimeSpan interval, TimeSpan window) =>
        Microsoft.Extensions.Options.Options.Create(new HostingOptions
        {
            CpuDegradedRatio = degraded, CpuUnhealthyRatio = unhealthy, CpuSampleInterval = interval, CpuWindow = window,
        });

    private static Task<HealthCheckResult> CheckAsync(CpuHealthCheck sut) =>
        sut.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);

    [Fact]
    public async Task CheckHealth_FakeProcStatAndCgroupV2Files_ReportsEachRatioAndJudgesTheWorst()
    {
        using var dir = new TempDirectory("detektor-cpu");
        var stat = dir.Combine("stat");
        var cgroup = dir.Combine("cgroup");
        Directory.CreateDirectory(cgroup);
        await File.WriteAllTextAsync(Path.Combine(cgroup, "cpu.max"), "50000 100000\n", TestContext.Current.CancellationToken);
        var processCpu = TimeSpan.Zero;
        var time = new FakeTimeProvider();
        var options = Options(0.5, 0.9, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20));
        using var sampler = new CpuUsageSampler(time, options, new CpuSources(stat, cgroup, () => processCpu));
        var sut = new CpuHealthCheck(sampler, options);

        // user nice system idle iowait irq softirq steal guest guest_nice: busy 200 of 1000 ticks.
        await File.WriteAllTextAsync(stat, "cpu  100 0 100 700 100 0 0 0 5 0\ncpu0 1 2 3 4\n", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(cgroup, "cpu.stat"), "usage_usec 1000000\nuser_usec 1\nsystem_usec 1\n", TestContext.Current.CancellationToken);
        sampler.SampleNow();
        var collecting = await CheckAsync(sut);
        time.Advance(TimeSpan.FromSeconds(10));

        // +400 busy of +1000 ticks; the cgroup used 3 s of its 0.5 cores × 10 s; the process 2 s.
        await File.WriteAllTextAsync(stat, "cpu  400 0 200 1300 100 0 0 0 9 0\n", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(cgroup, "cpu.stat"), "usage_usec 4000000\n", TestContext.Current.CancellationToken);
        processCpu = TimeSpan.FromSeconds(2);
        sampler.SampleNow();
        var result = await CheckAsync(sut);

        Assert.Equal(HealthStatus.Healthy, collecting.Status);
        Assert.Equal("collecting samples", collecting.Description);
        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal(0.4, (double)result.Data["machine_ratio"], 6);
        Assert.Equal(0.6, (double)result.Data["cgroup_ratio"], 6);
        Assert.Equal(0.4, (double)result.Data["process_ratio"], 6);
        Assert.Equal(0.5, (double)result.Data["cgroup_limit_cores"], 6);
        Assert.Equal(0.5, (double)result.Data["available_cores"], 6);
        Assert.Equal(10.0, (double)result.Data["window_seconds"], 6);
        Assert.Equal("process 40% of 0.5 cores, cgroup 60% of 0.5 cores over 10 s", result.Description?.Replace(" %", "%", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CheckHealth_CgroupV1QuotaAndUsage_UsesTheLimitAsAvailableCores()
    {
        using var dir = new TempDirectory("detektor-cpu");
        Directory.CreateDirectory(dir.Combine("cpu"));
        Directory.CreateDirectory(dir.Combine("cpuacct"));
        await File.WriteAllTextAsync(dir.Combine("cpu", "cpu.cfs_quota_us"), "100000\n", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(dir.Combine("cpu", "cpu.cfs_period_us"), "100000\n", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(dir.Combine("cpuacct", "cpuacct.usage"), "0\n", TestContext.Current.CancellationToken);
        var processCpu = TimeSpan.Zero;
        var time = new FakeTimeProvider();
        var options = Options(0.5, 0.9, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));
        using var sampler = new CpuUsageSampler(time, options, new CpuSources(dir.Combine("no-proc-stat"), dir.Path, () => processCpu));
        var sut = new CpuHealthCheck(sampler, options);

        sampler.SampleNow();
        time.Advance(TimeSpan.FromSeconds(4));
        processCpu = TimeSpan.FromSeconds(1);
        await File.WriteAllTextAsync(dir.Combine("cpuacct", "cpuacct.usage"), "3960000000\n", TestContext.Current.CancellationToken); // 3.96 s in ns
        sampler.SampleNow();
        var result = await CheckAsync(sut);

        Assert.Equal(HealthStatus.Unhealthy, result.Status); // the container used 99 % of its one core
        Assert.Equal(0.99, (double)result.Data["cgroup_ratio"], 6);
        Assert.Equal(0.25, (double)result.Data["process_ratio"], 6);
        Assert.Equal(1.0, (double)result.Data["available_cores"], 6);
        Assert.False(result.Data.ContainsKey("machine_ratio")); // no /proc/stat: not known, not zero
    }

    [Fact]
    public async Task CheckHealth_BusyThenIdleLongerThanTheWindow_ForgetsTheBusyPart()
    {
        using var dir = new TempDirectory("detektor-cpu");
        var processCpu = TimeSpan.Zero;
        var time = new FakeTimeProvider();
        var options = Options(0.5, 0.9, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));
        using var sampler = new CpuUsageSampler(time, options, new CpuSources(dir.Combine("none"), dir.Path, () => processCpu));
        var sut = new CpuHealthCheck(sampler, options);
        var cores = Environment.ProcessorCount;

        var statuses = new List<HealthStatus>();
        for (var second = 0; second < 8; second++)
        {
            sampler.SampleNow();
            statuses.Add((await CheckAsync(sut)).Status);
            time.Advance(TimeSpan.FromSeconds(1));
            if (second < 3)
            {
                processCpu += TimeSpan.FromSeconds(cores); // every core busy for the first three seconds
            }
        }

        Assert.Equal(
            [HealthStatus.Healthy, HealthStatus.Healthy, HealthStatus.Unhealthy, HealthStatus.Unhealthy, HealthStatus.Degraded, HealthStatus.Healthy, HealthStatus.Healthy, HealthStatus.Healthy],
            statuses);
        Assert.Equal(3.0, sampler.Current!.Window.TotalSeconds, 6); // bounded to the window
        Assert.Equal(0.0, sampler.Current.ProcessRatio, 6);
    }

    [Theory]
    [InlineData("max 100000", null)]
    [InlineData("150000 100000\n", 1.5)]
    [InlineData("-1 100000", null)]
    [InlineData("garbage", null)]
    [InlineData("200000 0", null)]
    public void ParseCpuMax_Text_LimitInCores(string text, double? expected) =>
        Assert.Equal(expected, CpuSources.ParseCpuMax(text));

    [Theory]
    [InlineData("cpu  1 2 3 4 5 6 7 8 9 10\n", 27UL, 36UL)]
    [InlineData("cpu  10 0 10 80\n", 20UL, 100UL)]
    [InlineData("intr 1 2 3\n", null, null)]
    [InlineData("cpu  10 x 10 80\n", null, null)]
    public void ParseProcStat_FirstLine_BusyAndTotalWithoutGuestTime(string text, ulong? busy, ulong? total)
    {
        var parsed = CpuSources.ParseProcStat(text);

        Assert.Equal(busy, parsed?.Busy);
        Assert.Equal(total, parsed?.Total);
    }

    [Fact]
    public async Task Start_InvalidThresholds_FailsNamingTheKeys()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Detektor:Hosting:CpuDegradedRatio"] = "0.9";
        builder.Configuration["Detektor:Hosting:CpuUnhealthyRatio"] = "0.5";
        builder.Configuration["Detektor:Hosting:CpuSampleInterval"] = "00:00:10";
        builder.Configuration["Detektor:Hosting:CpuWindow"] = "00:00:05";
        builder.WebHost.UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}"));
        builder.AddServiceDefaults("detektor-test");
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("Detektor:Hosting:CpuUnhealthyRatio: 0.5 is below CpuDegradedRatio (0.9)", error.Message, StringComparison.Ordinal);
        Assert.Contains("Detektor:Hosting:CpuWindow: 00:00:05 is shorter than CpuSampleInterval (00:00:10)", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>Burns CPU in this test process, so it runs alone: no other test's work may count as the burn or hide the idle.</summary>
[Collection(nameof(CpuBurnCollection))]
public sealed class CpuBurnTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task CheckHealth_ThreadsBurnCpu_RatioRisesAndStatusLeavesHealthyThenReturns()
    {
        using var dir = new TempDirectory("detektor-cpu");
        await File.WriteAllTextAsync(dir.Combine("stat"), "cpu  1 0 1 8\n", TestContext.Current.CancellationToken); // a flat machine: judge the process only
        var options = Microsoft.Extensions.Options.Options.Create(new HostingOptions
        {
            CpuDegradedRatio = 0.25, CpuUnhealthyRatio = 1.0, CpuSampleInterval = TimeSpan.FromMilliseconds(100), CpuWindow = TimeSpan.FromSeconds(2),
        });
        using var sampler = new CpuUsageSampler(TimeProvider.System, options, CpuSources.Default with { ProcStatPath = dir.Combine("stat"), CgroupDirectory = dir.Path });
        var sut = new CpuHealthCheck(sampler, options);
        sampler.Start();
        var ct = TestContext.Current.CancellationToken;

        var idle = await Eventually.WaitAsync(
            () => sut.CheckHealthAsync(new HealthCheckContext(), ct), r => r.Status == HealthStatus.Healthy && r.Data.ContainsKey("process_ratio"), Wait, "an idle window");
        var idleRatio = (double)idle.Data["process_ratio"];

        using var burn = new CancellationTokenSource();
        var burners = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => Task.Factory.StartNew(
            () =>
            {
                var x = 1.0;
                while (!burn.IsCancellationRequested)
                {
                    x = Math.Sqrt(x + 1.0);
                }

                return x;
            },
            ct,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();
        HealthCheckResult busy;
        try
        {
            busy = await Eventually.WaitAsync(
                () => sut.CheckHealthAsync(new HealthCheckContext(), ct), r => r.Status != HealthStatus.Healthy, Wait, "the burn seen by the check");
        }
        finally
        {
            await burn.CancelAsync();
            await Task.WhenAll(burners);
        }

        var busyRatio = (double)busy.Data["process_ratio"];
        var calm = await Eventually.WaitAsync(
            () => sut.CheckHealthAsync(new HealthCheckContext(), ct), r => r.Status == HealthStatus.Healthy, Wait, "healthy again after the burn");

        // Healthy means at most the threshold (the data are rounded to 4 places, so "at most", not "below").
        Assert.True(idleRatio <= 0.25, $"idle: {idle.Description}");
        Assert.True(busyRatio >= 0.25, $"busy: {busy.Description}");
        Assert.True(busyRatio > idleRatio, $"busy: {busy.Description}; idle: {idle.Description}");
        Assert.Equal(HealthStatus.Degraded, busy.Status); // unhealthy above 1: never
        Assert.True((double)calm.Data["process_ratio"] <= 0.25, $"calm: {calm.Description}");
    }
}

[CollectionDefinition(nameof(CpuBurnCollection), DisableParallelization = true)]
public sealed class CpuBurnCollection;
