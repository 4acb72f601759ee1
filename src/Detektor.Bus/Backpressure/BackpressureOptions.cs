using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.Backpressure;

/// <summary>
/// Options of the backpressure breaker (section <c>Detektor:Bus:Backpressure</c>). The breaker watches the fill of the
/// frames queues (undelivered frames / capacity): from <see cref="WarnWatermark"/> the queue health is degraded; at
/// <see cref="HighWatermark"/> the breaker opens and capture admits only <see cref="OpenAdmitRatio"/> of its frames (the
/// rest are recorded as <c>skipped</c>, reason <c>backpressure</c>); below <see cref="LowWatermark"/> it closes again.
/// </summary>
public sealed class BackpressureOptions
{
    public const string SectionName = "Detektor:Bus:Backpressure";

    /// <summary>Whether capture consults the breaker at all. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The breaker closes when the fill falls below this. Default 0.6.</summary>
    [Range(0.0, 1.0)]
    public double LowWatermark { get; set; } = 0.6;

    /// <summary>From this fill the <c>queue:frames</c> health check reports degraded. Default 0.8.</summary>
    [Range(0.0, 1.0)]
    public double WarnWatermark { get; set; } = 0.8;

    /// <summary>The breaker opens at this fill. Default 0.95.</summary>
    [Range(0.0, 1.0)]
    public double HighWatermark { get; set; } = 0.95;

    /// <summary>Share of each camera's frames still published while the breaker is open (0 = none). Default 0.25.</summary>
    [Range(0.0, 1.0)]
    public double OpenAdmitRatio { get; set; } = 0.25;

    /// <summary>Fill is re-read at most this often (the Redis bus refreshes it every MonitorIntervalMs anyway). Default 50 ms.</summary>
    [Range(0, 60_000)]
    public int EvaluateIntervalMs { get; set; } = 50;
}

/// <summary>The watermarks must be ordered: low &lt; warn &lt; high (names the keys, one line per problem).</summary>
public sealed class BackpressureOptionsValidator : IValidateOptions<BackpressureOptions>
{
    public ValidateOptionsResult Validate(string? name, BackpressureOptions options)
    {
        var failures = new List<string>();
        if (options.LowWatermark >= options.WarnWatermark)
        {
            failures.Add(Format($"{BackpressureOptions.SectionName}:LowWatermark: {options.LowWatermark} must be below WarnWatermark ({options.WarnWatermark})."));
        }

        if (options.WarnWatermark > options.HighWatermark)
        {
            failures.Add(Format($"{BackpressureOptions.SectionName}:WarnWatermark: {options.WarnWatermark} must not be above HighWatermark ({options.HighWatermark})."));
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
