using Microsoft.Extensions.Options;

namespace Detektor.Core.Resilience;

/// <summary>What a guarded processor's open breaker does to a frame.</summary>
public enum BreakerOpenPolicy
{
    /// <summary>The frame is recorded <c>skipped</c> with reason <c>detector_unavailable</c> and its result still goes to the store.</summary>
    FailOpen,

    /// <summary>The frame is recorded <c>processing_failed</c> with reason <c>circuit_open</c> (outcome failed), without retries.</summary>
    FailClosed,
}

/// <summary>One processor's settings (<c>Detektor:Processing:Processors:{name}</c>).</summary>
public sealed class ProcessorPolicyOptions
{
    /// <summary><c>FailOpen</c> (default): frames pass on as skipped (<c>detector_unavailable</c>); <c>FailClosed</c>: they fail (<c>circuit_open</c>).</summary>
    public string OnBreakerOpen { get; set; } = nameof(BreakerOpenPolicy.FailOpen);
}

/// <summary>
/// The per-processor policies of section <c>Detektor:Processing:Processors</c>, bound in every role: in-chain processors
/// (the process role) and external processors leasing frames over HTTP (the API role) share the keys.
/// </summary>
public sealed class ProcessorPoliciesOptions
{
    public const string SectionName = "Detektor:Processing";

    /// <summary>Per processor (by name): what happens to a frame while the processor's circuit breaker is open.</summary>
    public Dictionary<string, ProcessorPolicyOptions> Processors { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The policy of processor <paramref name="name"/> while its breaker is open; default fail-open.</summary>
    public BreakerOpenPolicy OnBreakerOpen(string name) => Resolve(Processors, name);

    /// <summary>Fail-closed when <paramref name="processors"/> says so for <paramref name="name"/> (any case), else fail-open.</summary>
    public static BreakerOpenPolicy Resolve(IReadOnlyDictionary<string, ProcessorPolicyOptions> processors, string name) =>
        processors.TryGetValue(name, out var o) && string.Equals(o.OnBreakerOpen, nameof(BreakerOpenPolicy.FailClosed), StringComparison.OrdinalIgnoreCase)
            ? BreakerOpenPolicy.FailClosed
            : BreakerOpenPolicy.FailOpen;
}

/// <summary>Checks <c>Detektor:Processing:Processors:{name}:OnBreakerOpen</c> at start, one line per problem naming the full key.</summary>
public sealed class ProcessorPoliciesValidator : IValidateOptions<ProcessorPoliciesOptions>
{
    public ValidateOptionsResult Validate(string? name, ProcessorPoliciesOptions options)
    {
        var failures = new List<string>();
        foreach (var (processor, o) in options.Processors)
        {
            var value = o?.OnBreakerOpen;
            if (!string.Equals(value, nameof(BreakerOpenPolicy.FailOpen), StringComparison.OrdinalIgnoreCase) &&
                !string.Equals(value, nameof(BreakerOpenPolicy.FailClosed), StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{ProcessorPoliciesOptions.SectionName}:Processors:{processor}:OnBreakerOpen: '{value}' is not allowed; use one of: FailOpen, FailClosed.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
