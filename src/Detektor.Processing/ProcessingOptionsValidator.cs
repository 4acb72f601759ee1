using Microsoft.Extensions.Options;

namespace Detektor.Processing;

/// <summary>Checks <c>Detektor:Processing:Processors:{name}</c> at start, one line per problem naming the full key.</summary>
public sealed class ProcessingOptionsValidator : IValidateOptions<ProcessingOptions>
{
    public ValidateOptionsResult Validate(string? name, ProcessingOptions options)
    {
        var failures = new List<string>();
        foreach (var (processor, o) in options.Processors)
        {
            var value = o?.OnBreakerOpen;
            if (!string.Equals(value, nameof(BreakerOpenPolicy.FailOpen), StringComparison.OrdinalIgnoreCase) &&
                !string.Equals(value, nameof(BreakerOpenPolicy.FailClosed), StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{ProcessingOptions.SectionName}:Processors:{processor}:OnBreakerOpen: '{value}' is not allowed; use one of: FailOpen, FailClosed.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
