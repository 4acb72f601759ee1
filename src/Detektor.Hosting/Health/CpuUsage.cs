using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Hosting.Health;

/// <summary>
/// Where the <see cref="CpuUsageSampler"/> reads from: the process's own CPU time, the machine's counters
/// (<c>/proc/stat</c>) and the cgroup directory holding the CPU limit (<c>cpu.max</c> in cgroup v2,
/// <c>cpu/cpu.cfs_quota_us</c> in v1) and the cgroup's usage (<c>cpu.stat</c> / <c>cpuacct/cpuacct.usage</c>).
/// Missing files mean "not known here" (not Linux, no cgroup limit), never an error. Replaceable for tests.
/// </summary>
public sealed record CpuSources(string ProcStatPath, string CgroupDirectory, Func<TimeSpan> ProcessCpuTime)
{
    /// <summary>Linux's paths and <see cref="Environment.CpuUsage"/> (user + kernel time of every thread of this process).</summary>
    public static CpuSources Default { get; } = new("/proc/stat", "/sys/fs/cgroup", static () => Environment.CpuUsage.TotalTime);

    /// <summary>Busy and total time of all CPUs from the first (<c>cpu</c>) line of <c>/proc/stat</c>, in clock ticks; null when unreadable.</summary>
    public (ulong Busy, ulong Total)? ReadMachine() => ParseProcStat(TryRead(ProcStatPath));

    /// <summary>The cgroup's CPU limit in cores (quota / period); null when there is none (<c>max</c>) or no cgroup file.</summary>
    public double? ReadCgroupLimitCores()
    {
        if (TryRead(Path.Combine(CgroupDirectory, "cpu.max")) is { } v2)
        {
            return ParseCpuMax(v2);
        }

        var quota = TryRead(Path.Combine(CgroupDirectory, "cpu", "cpu.cfs_quota_us"));
        var period = TryRead(Path.Combine(CgroupDirectory, "cpu", "cpu.cfs_period_us"));
        return quota is null || period is null ? null : ParseCpuMax(quota.Trim() + " " + period.Trim());
    }

    /// <summary>CPU time used by every process in the cgroup (this one, ffmpeg children, …); null when unknown.</summary>
    public TimeSpan? ReadCgroupUsage()
    {
        if (TryRead(Path.Combine(CgroupDirectory, "cpu.stat")) is { } stat)
        {
            foreach (var line in stat.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts is ["usage_usec", var usec] && long.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out var micros))
                {
                    return TimeSpan.FromMicroseconds(micros);
                }
            }

            return null;
        }

        return TryRead(Path.Combine(CgroupDirectory, "cpuacct", "cpuacct.usage")) is { } v1
               && long.TryParse(v1.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var nanos)
            ? TimeSpan.FromTicks(nanos / 100)
            : null;
    }

    /// <summary>
    /// <c>cpu.max</c> is "<c>$QUOTA $PERIOD</c>" in microseconds, <c>max</c> (or, in v1, a quota of -1) meaning no limit.
    /// Returns the limit in cores, or null.
    /// </summary>
    public static double? ParseCpuMax(string text)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || parts[0] == "max"
            || !long.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var quota)
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var period)
            || quota <= 0 || period <= 0)
        {
            return null;
        }

        return (double)quota / period;
    }

    /// <summary>The aggregate <c>cpu</c> line: user nice system idle iowait irq softirq steal …; idle + iowait is not busy.</summary>
    public static (ulong Busy, ulong Total)? ParseProcStat(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var line = text.AsSpan();
        var end = line.IndexOf('\n');
        line = end >= 0 ? line[..end] : line;
        if (!line.StartsWith("cpu "))
        {
            return null;
        }

        ulong total = 0, idle = 0;
        var field = 0;
        foreach (var range in line[4..].Split(' '))
        {
            var part = line[4..][range];
            if (part.IsEmpty)
            {
                continue;
            }

            if (!ulong.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                return null;
            }

            // Fields 8 and 9 (guest, guest_nice) are already counted in user and nice.
            if (field < 8)
            {
                total += value;
                if (field is 3 or 4)
                {
                    idle += value;
                }
            }

            field++;
        }

        return field >= 4 ? (total - idle, total) : null;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>CPU use over the last window: each ratio is busy time / (elapsed × cores), 0–1 (null where not known).</summary>
/// <param name="ProcessRatio">This process's CPU time against the cores available to it (<see cref="AvailableCores"/>).</param>
/// <param name="MachineRatio">The machine's busy share of all its CPUs (<c>/proc/stat</c>).</param>
/// <param name="CgroupRatio">The cgroup's CPU time (this process and its children, e.g. ffmpeg) against the cgroup's limit.</param>
/// <param name="AvailableCores">The cores this process may use: the cgroup limit when set, else the processor count.</param>
/// <param name="CgroupLimitCores">The cgroup's CPU limit in cores, when one is set.</param>
/// <param name="Window">The time the ratios cover.</param>
public sealed record CpuUsageSnapshot(
    double ProcessRatio, double? MachineRatio, double? CgroupRatio, double AvailableCores, double? CgroupLimitCores, TimeSpan Window)
{
    /// <summary>
    /// The ratio the <c>cpu</c> check judges: the highest of the process's and its surroundings' — the cgroup's when it is
    /// limited (the container is what gets throttled), else the machine's (ffmpeg decoders and neighbours compete for the
    /// same cores).
    /// </summary>
    public double WorstRatio => Math.Max(ProcessRatio, CgroupRatio ?? MachineRatio ?? 0);
}

/// <summary>
/// Samples CPU counters every <see cref="HostingOptions.CpuSampleInterval"/> on a timer (not per request: a probe only reads
/// the last result) and keeps the samples of the last <see cref="HostingOptions.CpuWindow"/>; <see cref="Current"/> compares
/// the newest with the oldest. A handful of file reads every few seconds: cheap.
/// </summary>
public sealed class CpuUsageSampler : IDisposable
{
    private readonly TimeProvider _time;
    private readonly CpuSources _sources;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _window;
    private readonly Lock _lock = new();
    private readonly Queue<Sample> _samples = new();
    private ITimer? _timer;

    public CpuUsageSampler(TimeProvider time, IOptions<HostingOptions> options, CpuSources sources)
    {
        _time = time;
        _sources = sources;
        _interval = options.Value.CpuSampleInterval;
        _window = options.Value.CpuWindow;
    }

    private sealed record Sample(long Timestamp, TimeSpan ProcessCpu, (ulong Busy, ulong Total)? Machine, TimeSpan? CgroupUsage, double? CgroupLimit);

    /// <summary>Samples now and then every interval until disposed.</summary>
    public void Start()
    {
        lock (_lock)
        {
            _timer ??= _time.CreateTimer(static state => ((CpuUsageSampler)state!).SampleNow(), this, TimeSpan.Zero, _interval);
        }
    }

    /// <summary>Takes one sample (the timer calls this; tests may too) and forgets samples older than the window.</summary>
    public void SampleNow()
    {
        var sample = new Sample(_time.GetTimestamp(), _sources.ProcessCpuTime(), _sources.ReadMachine(), _sources.ReadCgroupUsage(), _sources.ReadCgroupLimitCores());
        lock (_lock)
        {
            _samples.Enqueue(sample);

            // Keep the newest sample that is at least a window old as the baseline; drop the ones before it.
            while (_samples.Count > 2 && _time.GetElapsedTime(ElementAt(1).Timestamp, sample.Timestamp) >= _window)
            {
                _samples.Dequeue();
            }
        }
    }

    /// <summary>The use over the samples held (up to one window); null until two samples exist.</summary>
    public CpuUsageSnapshot? Current
    {
        get
        {
            Sample first, last;
            lock (_lock)
            {
                if (_samples.Count < 2)
                {
                    return null;
                }

                first = _samples.Peek();
                last = ElementAt(_samples.Count - 1);
            }

            var elapsed = _time.GetElapsedTime(first.Timestamp, last.Timestamp);
            if (elapsed <= TimeSpan.Zero)
            {
                return null;
            }

            var limit = last.CgroupLimit;
            var cores = limit is { } l ? Math.Min(l, Environment.ProcessorCount) : Environment.ProcessorCount;
            var process = Clamp((last.ProcessCpu - first.ProcessCpu) / (elapsed * cores));
            double? machine = first.Machine is { } m0 && last.Machine is { } m1 && m1.Total > m0.Total
                ? Clamp((double)(m1.Busy - m0.Busy) / (m1.Total - m0.Total))
                : null;
            double? cgroup = limit is { } lim && first.CgroupUsage is { } u0 && last.CgroupUsage is { } u1
                ? Clamp((u1 - u0) / (elapsed * lim))
                : null;
            return new CpuUsageSnapshot(process, machine, cgroup, cores, limit, elapsed);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    private static double Clamp(double ratio) => double.IsFinite(ratio) ? Math.Clamp(ratio, 0, 1) : 0;

    private Sample ElementAt(int index)
    {
        var i = 0;
        foreach (var sample in _samples)
        {
            if (i++ == index)
            {
                return sample;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(index));
    }

    /// <summary>Starts the sampler with the host and stops it with the host.</summary>
    internal sealed class Service(CpuUsageSampler sampler) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            sampler.Start();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            sampler.Dispose();
            return Task.CompletedTask;
        }
    }
}
