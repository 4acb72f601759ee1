using System.Globalization;
using Detektor.Bus.Abstractions;
using Detektor.Core.Hosting.Supervision;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Microsoft.Extensions.Logging;

namespace Detektor.Processing.Pipeline;

/// <summary>
/// Each consumer is a supervised loop (<c>process:consumer-N</c>): a consumer that throws is restarted (the frame it held
/// stays unacknowledged, so the bus redelivers it); one busy with a frame for longer than the supervisor's StallTimeout is
/// cancelled, and if it does not return it is abandoned — the frame it held is then recorded as dropped (<c>stalled</c>) and
/// acknowledged, so it is neither lost nor redelivered into the same hang.
/// </summary>
public sealed partial class FrameProcessingWorker
{
    private string ConsumerName(int index) => string.Create(CultureInfo.InvariantCulture, $"{_service.InstanceId}-{index}");

    private Task SuperviseConsumerAsync(LoopSupervisor supervisor, int index, CancellationToken stoppingToken)
    {
        var runs = 0;
        return supervisor.RunAsync(
            string.Create(CultureInfo.InvariantCulture, $"process:consumer-{index}"),
            (loop, token) =>
            {
                // A restarted run subscribes under a new name: an abandoned run may still hold the old subscription.
                var run = runs++;
                var name = run == 0 ? ConsumerName(index) : string.Create(CultureInfo.InvariantCulture, $"{ConsumerName(index)}-r{run}");
                return ConsumeAsync(name, loop, token);
            },
            stoppingToken);
    }

    private async ValueTask AbandonAsync(IBusSubscription<FrameMessage> subscription, HeldDelivery held)
    {
        if (held.TryClaimCurrent() is not { } delivery)
        {
            return;
        }

        // The hung processor may still read the frame's pixels: its buffer is not returned to the pool (the GC takes it).
        var metadata = delivery.Message.Metadata;
        Log.FrameAbandoned(_logger, metadata.FrameId.ToString(), subscription.Consumer);
        await _recorder.RecordAsync(
            FrameEvent.Create(FrameEventType.Dropped, metadata, Stages.Process, _service.Name, _time.GetUtcNow(), reason: DropReasons.Stalled),
            CancellationToken.None);
        await subscription.AckAsync(delivery, CancellationToken.None);
    }

    /// <summary>The delivery a consumer works on; whoever claims it first (the consumer, or the abandon path) settles it.</summary>
    private sealed class HeldDelivery
    {
        private BusDelivery<FrameMessage>? _current;
        private int _claimed = 1;

        public void Hold(BusDelivery<FrameMessage> delivery)
        {
            Volatile.Write(ref _current, delivery);
            Volatile.Write(ref _claimed, 0);
        }

        public bool TryClaim(BusDelivery<FrameMessage> delivery) =>
            ReferenceEquals(Volatile.Read(ref _current), delivery) && Interlocked.Exchange(ref _claimed, 1) == 0;

        public BusDelivery<FrameMessage>? TryClaimCurrent()
        {
            var delivery = Volatile.Read(ref _current);
            return delivery is not null && Interlocked.Exchange(ref _claimed, 1) == 0 ? delivery : null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2020, Level = LogLevel.Error,
            Message = "Frame {FrameId} recorded as dropped (stalled): consumer {Consumer} hung on it and was abandoned")]
        public static partial void FrameAbandoned(ILogger logger, string frameId, string consumer);
    }
}
