using System.Globalization;
using Detektor.Core;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;

namespace Detektor.Bus.Lifecycle;

/// <summary>Turns a message the bus had to give up on into a counted, reasoned lifecycle event.</summary>
public static class DropAccounting
{
    /// <summary>
    /// The <c>dropped</c> event for a frame message, or null when the message is not a frame (durable topics never drop,
    /// so only frames reach here).
    /// </summary>
    public static FrameEvent? CreateDroppedEvent(object message, string topic, string reason, ServiceIdentity service, DateTimeOffset now)
    {
        if (message is not FrameMessage frame)
        {
            return null;
        }

        var data = string.Create(CultureInfo.InvariantCulture, $"{{\"topic\":\"{topic}\"}}");
        return FrameEvent.Create(FrameEventType.Dropped, frame.Metadata, Stages.Bus, service.Name, now, reason: reason, data: data);
    }
}
