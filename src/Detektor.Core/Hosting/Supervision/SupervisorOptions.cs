using System.Globalization;
using Microsoft.Extensions.Options;

namespace Detektor.Core.Hosting.Supervision;

/// <summary>
/// How long-running loops are supervised (section <c>Detektor:Supervisor</c>, see docs/configuration.md). A loop that
/// throws is restarted after <see cref="BackoffInitial"/>, doubling up to <see cref="BackoffMax"/>; after
/// <see cref="MaxRestarts"/> restarts within <see cref="Window"/> it is marked failed instead. A loop that has work in hand
/// but reports no progress for <see cref="StallTimeout"/> is cancelled and restarted (reason <c>stalled</c>).
/// </summary>
public sealed class SupervisorOptions
{
    public const string SectionName = "Detektor:Supervisor";

    /// <summary>Restarts allowed within <see cref="Window"/> before the loop is marked failed. 0–1000, default 5.</summary>
    public int MaxRestarts { get; set; } = 5;

    /// <summary>The sliding window the restarts are counted in. 1 s – 1 day, default 5 min.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Delay before the first restart; doubles with each restart in the window. 1 ms – 10 min, default 1 s.</summary>
    public TimeSpan BackoffInitial { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Cap of the restart delay. At least <see cref="BackoffInitial"/>, at most 1 h; default 30 s.</summary>
    public TimeSpan BackoffMax { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A loop busy with one piece of work for longer than this is stalled. 100 ms – 1 h, default 30 s.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Validates <see cref="SupervisorOptions"/>, one line per problem naming the full key and what is allowed.</summary>
public sealed class SupervisorOptionsValidator : IValidateOptions<SupervisorOptions>
{
    public ValidateOptionsResult Validate(string? name, SupervisorOptions options)
    {
        var errors = new List<string>();
        if (options.MaxRestarts is < 0 or > 1000)
        {
            errors.Add(Line(nameof(options.MaxRestarts), options.MaxRestarts.ToString(CultureInfo.InvariantCulture), "allowed 0 to 1000"));
        }

        Check(errors, nameof(options.Window), options.Window, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1));
        Check(errors, nameof(options.BackoffInitial), options.BackoffInitial, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(10));
        Check(errors, nameof(options.BackoffMax), options.BackoffMax, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        Check(errors, nameof(options.StallTimeout), options.StallTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        if (options.BackoffMax < options.BackoffInitial)
        {
            errors.Add(Line(nameof(options.BackoffMax), Format(options.BackoffMax), $"must be at least {SupervisorOptions.SectionName}:BackoffInitial ({Format(options.BackoffInitial)})"));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(List<string> errors, string key, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            errors.Add(Line(key, Format(value), $"allowed {Format(min)} to {Format(max)}"));
        }
    }

    private static string Line(string key, string value, string allowed) =>
        $"{SupervisorOptions.SectionName}:{key}: {value} is out of range; {allowed}.";

    private static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
