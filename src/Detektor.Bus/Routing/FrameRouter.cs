using Detektor.Bus.Abstractions;
using Detektor.Core.Messages;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.Routing;

/// <summary>What this process's processors can do, so its frame subscription also reads their capability topics.</summary>
public interface ILocalCapabilities
{
    IReadOnlyList<string> Capabilities { get; }
}

/// <summary>
/// Capability routing: a camera with a route (<see cref="BusOptions.Routes"/>) has its frames published on
/// <c>frames.{capability}</c>, which only processors announcing that capability read; all other frames go to
/// <c>frames</c>, which every processor reads. Load is balanced inside a topic by the consumer group itself: a processor
/// reads only when one of its <c>Concurrency</c> slots is free, so a busy or slow processor takes fewer frames (pull, not push).
/// </summary>
public sealed class FrameRouter(IOptions<BusOptions> options)
{
    private readonly Dictionary<string, string> _routes = new(options.Value.Routes, StringComparer.Ordinal);

    /// <summary>The capability a camera's frames need, or null when any processor will do.</summary>
    public string? CapabilityOf(string cameraId) => _routes.TryGetValue(cameraId, out var capability) ? capability : null;

    public Topic<FrameMessage> Route(string cameraId) => CapabilityOf(cameraId) is { } capability ? Topics.FramesFor(capability) : Topics.Frames;

    /// <summary>Every capability some route needs.</summary>
    public IReadOnlyCollection<string> RoutedCapabilities => [.. _routes.Values.Distinct(StringComparer.Ordinal)];

    /// <summary>The frame topics a processor with these capabilities reads: <c>frames</c> and one per capability.</summary>
    public static IReadOnlyList<Topic<FrameMessage>> TopicsFor(IEnumerable<string> capabilities) =>
        [Topics.Frames, .. capabilities.Where(Topics.IsCapabilityName).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(Topics.FramesFor)];
}
