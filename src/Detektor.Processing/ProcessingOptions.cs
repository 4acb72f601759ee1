using System.ComponentModel.DataAnnotations;
using Detektor.Core.Resilience;

namespace Detektor.Processing;

/// <summary>Options of the process role (section <c>Detektor:Processing</c>).</summary>
public sealed class ProcessingOptions
{
    public const string SectionName = "Detektor:Processing";

    /// <summary>Frames processed at the same time by this process. Default 2 (one per core on the reference box).</summary>
    [Range(1, 256)]
    public int Concurrency { get; set; } = 2;

    /// <summary>Attempts per processor per frame before it counts as failed. Default 2.</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; set; } = 2;

    /// <summary>Watchdog: a processor running longer than this on one frame is cancelled and the attempt fails. Default 10 s.</summary>
    [Range(1, 600)]
    public int ProcessorTimeoutSeconds { get; set; } = 10;

    /// <summary>Consumer group of the frames topic; processes in one group share the frames. Default <c>processors</c>.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_-]{1,64}$")]
    public string ConsumerGroup { get; set; } = "processors";

    /// <summary>
    /// Per processor (by name): what happens to a frame while the processor's circuit breaker is open. Validated in every role
    /// by <see cref="ProcessorPoliciesValidator"/> (external processors use the same keys).
    /// </summary>
    public Dictionary<string, ProcessorPolicyOptions> Processors { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The policy of processor <paramref name="name"/> while its breaker is open; default fail-open.</summary>
    public BreakerOpenPolicy OnBreakerOpen(string name) => ProcessorPoliciesOptions.Resolve(Processors, name);
}
