using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Detektor.Core.Resilience;

/// <summary>
/// Options of the circuit breakers (section <c>Detektor:Resilience</c>). Every breaker (<c>objects</c>, <c>faces</c>,
/// <c>store</c>, <c>redis</c>, any processor that asks for one) uses <see cref="CircuitBreakerOptions"/> defaults unless
/// <c>Detektor:Resilience:Breakers:{name}</c> sets its own keys.
/// </summary>
public sealed class ResilienceOptions
{
    public const string SectionName = "Detektor:Resilience";

    /// <summary>Settings per breaker name; a key left out keeps its default.</summary>
    public Dictionary<string, CircuitBreakerOptions> Breakers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The settings of breaker <paramref name="name"/>: its own section, else the defaults.</summary>
    public CircuitBreakerOptions For(string name) => Breakers.TryGetValue(name, out var options) ? options : new CircuitBreakerOptions();
}

/// <summary>How one circuit breaker decides to open and for how long it stays open.</summary>
public sealed class CircuitBreakerOptions
{
    /// <summary>Use the breaker at all. Default true; false lets every call through and reports the breaker closed.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Share of failed calls within <see cref="SamplingDurationSeconds"/> that opens the breaker. Default 0.5 (0.01 to 1).</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Calls needed within the sampling window before the ratio counts. Default 10 (2 to 100000).</summary>
    public int MinimumThroughput { get; set; } = 10;

    /// <summary>The window the failure ratio is measured over. Default 30 s (0.5 to 86400).</summary>
    public double SamplingDurationSeconds { get; set; } = 30;

    /// <summary>How long the breaker stays open before one probe call is let through (half-open). Default 15 s (0.5 to 86400).</summary>
    public double BreakDurationSeconds { get; set; } = 15;
}

/// <summary>Checks every breaker's keys at start, one line per problem naming the full key.</summary>
public sealed partial class ResilienceOptionsValidator : IValidateOptions<ResilienceOptions>
{
    public ValidateOptionsResult Validate(string? name, ResilienceOptions options)
    {
        var failures = new List<string>();
        foreach (var (breaker, o) in options.Breakers)
        {
            var key = $"{ResilienceOptions.SectionName}:Breakers:{breaker}";
            if (!BreakerName().IsMatch(breaker))
            {
                failures.Add($"{key}: '{breaker}' is not a breaker name; use letters, digits, '_' or '-' (1 to 64).");
            }

            if (o is null)
            {
                continue;
            }

            Check(failures, key, nameof(o.FailureRatio), o.FailureRatio, 0.01, 1);
            Check(failures, key, nameof(o.MinimumThroughput), o.MinimumThroughput, 2, 100_000);
            Check(failures, key, nameof(o.SamplingDurationSeconds), o.SamplingDurationSeconds, 0.5, 86_400);
            Check(failures, key, nameof(o.BreakDurationSeconds), o.BreakDurationSeconds, 0.5, 86_400);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(List<string> failures, string key, string member, double value, double min, double max)
    {
        if (double.IsNaN(value) || value < min || value > max)
        {
            failures.Add(string.Format(CultureInfo.InvariantCulture, "{0}:{1}: {2} is out of range; allowed {3} to {4}.", key, member, value, min, max));
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex BreakerName();
}
