using System.ComponentModel.DataAnnotations;

namespace Detektor.Bus;

/// <summary>Options of the frame bus (section <c>Detektor:Bus</c>).</summary>
public sealed class BusOptions
{
    public const string SectionName = "Detektor:Bus";

    /// <summary>Queue bound of the perishable <c>frames</c> topic. Default 64 frames; when full the oldest is dropped (counted).</summary>
    [Range(1, 100_000)]
    public int FramesCapacity { get; set; } = 64;

    /// <summary>Queue bound of the durable <c>results</c> and <c>lifecycle</c> topics. Default 100 000; when full publishers wait.</summary>
    [Range(1, 10_000_000)]
    public int DurableCapacity { get; set; } = 100_000;

    /// <summary>Deliveries of one message before it goes to the dead letters. Default 3.</summary>
    [Range(1, 100)]
    public int MaxDeliveries { get; set; } = 3;

    /// <summary>Dead letters kept in process for inspection and replay. Default 1000 (older ones are counted and released).</summary>
    [Range(0, 1_000_000)]
    public int DeadLetterCapacity { get; set; } = 1000;
}
