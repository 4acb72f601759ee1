using System.Buffers.Binary;
using System.Globalization;
using Detektor.Bus.Abstractions;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Tracing;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Detektor.Bus.Redis;

public sealed partial class RedisFrameBus
{
    private const int DurableTrimEveryTicks = 10;
    private const int ConsumerSweepEveryTicks = 60;
    private const int JournalBatch = 200;

    /// <summary>
    /// Every <see cref="RedisBusOptions.MonitorIntervalMs"/>: refresh the snapshot and the live capabilities, turn the
    /// trim journal into <c>dropped</c> events; now and then trim durable streams and remove dead consumers. Never stops
    /// on a Redis failure: the snapshot is then marked unavailable and the loop tries again.
    /// </summary>
    private async Task MonitorLoopAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(RedisOptions.MonitorIntervalMs);
        for (long tick = 0; !stoppingToken.IsCancellationRequested; tick++)
        {
            try
            {
                _snapshot = await ReadSnapshotAsync(stoppingToken);
                await RefreshCapabilitiesAsync(stoppingToken);
                await AccountTrimmedAsync(stoppingToken);
                if (tick % DurableTrimEveryTicks == 0)
                {
                    await TrimDurableAsync(stoppingToken);
                }

                if (tick % ConsumerSweepEveryTicks == ConsumerSweepEveryTicks - 1)
                {
                    await RemoveDeadConsumersAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (IsTransient(ex) || ex is RedisException)
            {
                _snapshot = _snapshot with { Available = false };
                ReportTransportError("monitor", ex);
            }

            try
            {
                await Task.Delay(interval, Time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async ValueTask<HashSet<string>> LiveCapabilitiesAsync()
    {
        if (_liveCapabilities is { } known)
        {
            return known;
        }

        await RefreshCapabilitiesAsync(CancellationToken.None);
        return _liveCapabilities ?? [];
    }

    private async Task RefreshCapabilitiesAsync(CancellationToken cancellationToken)
    {
        if (_registry is null || _router.RoutedCapabilities.Count == 0)
        {
            return;
        }

        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var processor in await _registry.ListAsync(cancellationToken))
        {
            live.UnionWith(processor.Capabilities);
        }

        _liveCapabilities = live;
    }

    private async Task<BusSnapshot> ReadSnapshotAsync(CancellationToken cancellationToken)
    {
        var db = await Connection.GetDatabaseAsync();
        var now = Time.GetUtcNow();
        var topics = new List<TopicSnapshot>(_topics.Count);
        foreach (var (name, info) in _topics.OrderBy(static t => t.Key, StringComparer.Ordinal))
        {
            topics.Add(await ReadTopicAsync(db, name, info, now).WaitAsync(cancellationToken));
        }

        var drops = db.HashGetAllAsync(Keys.DropStats);
        var skips = db.HashGetAllAsync(Keys.SkipStats);
        return new BusSnapshot(BusOptions.RedisTransport, topics)
        {
            TakenAt = now,
            Drops = ToReasonCounts(await drops),
            Skips = ToReasonCounts(await skips),
        };
    }

    private async Task<TopicSnapshot> ReadTopicAsync(IDatabase db, string name, TopicInfo info, DateTimeOffset now)
    {
        var stream = Keys.Stream(name);
        var perishable = info.Durability == TopicDurability.Perishable;
        var lengthTask = db.StreamLengthAsync(stream);
        var groupsTask = GroupsAsync(db, stream);
        var addedTask = EntriesAddedAsync(db, perishable ? Keys.Index(name) : stream);
        var deadTask = db.StreamLengthAsync(Keys.DeadLetters(name));
        var dropsTask = db.HashGetAllAsync(Keys.TopicDrops(name));
        var length = await lengthTask;
        var groupInfos = await groupsTask;
        var groups = new List<GroupSnapshot>(groupInfos.Length);
        var consumers = new SortedSet<string>(StringComparer.Ordinal);
        long delivered = 0, pending = 0, depth = groupInfos.Length == 0 ? length : 0;
        foreach (var group in groupInfos)
        {
            var consumerInfos = await db.StreamConsumerInfoAsync(stream, group.Name);
            var lag = group.Lag ?? await CountAfterAsync(db, perishable ? Keys.Index(name) : stream, group.LastDeliveredId, info.Capacity);
            var lagAge = TimeSpan.Zero;
            if (lag > 0)
            {
                var next = await db.StreamRangeAsync(perishable ? Keys.Index(name) : stream, "(" + group.LastDeliveredId, "+", 1);
                if (next.Length > 0 && EntryTime(next[0].Id) is { } enqueued && now > enqueued)
                {
                    lagAge = now - enqueued;
                }
            }

            var members = consumerInfos
                .Select(c => new ConsumerSnapshot(c.Name, c.PendingMessageCount, TimeSpan.FromMilliseconds(c.IdleTimeInMilliseconds)))
                .OrderBy(c => c.Name, StringComparer.Ordinal)
                .ToList();
            consumers.UnionWith(members.Select(m => m.Name));
            groups.Add(new GroupSnapshot(group.Name, lag, group.PendingMessageCount, members) { LagAge = lagAge });
            delivered = Math.Max(delivered, group.EntriesRead ?? 0);
            pending += group.PendingMessageCount;
            depth = Math.Max(depth, lag);
        }

        var dropped = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var entry in await dropsTask)
        {
            dropped[(string)entry.Name!] = (long)entry.Value;
        }

        return new TopicSnapshot(
            name,
            info.Durability,
            depth,
            info.Capacity,
            await addedTask,
            delivered,
            Math.Max(0, delivered - pending),
            pending,
            await deadTask,
            dropped,
            [.. consumers])
        {
            Length = length,
            Groups = groups,
        };
    }

    private static async Task<StreamGroupInfo[]> GroupsAsync(IDatabase db, string stream)
    {
        try
        {
            return await db.StreamGroupInfoAsync(stream);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("no such key", StringComparison.OrdinalIgnoreCase))
        {
            return [];
        }
    }

    private static async Task<long> EntriesAddedAsync(IDatabase db, string stream)
    {
        try
        {
            return (await db.StreamInfoAsync(stream)).EntriesAdded;
        }
        catch (RedisServerException ex) when (ex.Message.Contains("no such key", StringComparison.OrdinalIgnoreCase))
        {
            return 0;
        }
    }

    /// <summary>Entries after <paramref name="afterId"/>, counted up to <paramref name="limit"/> + 1 (when Redis cannot tell the lag).</summary>
    private static async Task<long> CountAfterAsync(IDatabase db, string stream, RedisValue afterId, long limit)
    {
        var entries = await db.StreamRangeAsync(stream, "(" + afterId, "+", (int)Math.Min(limit + 1, 100_001));
        return entries.Length;
    }

    private static DateTimeOffset? EntryTime(RedisValue id)
    {
        var text = (string?)id;
        var dash = text?.IndexOf('-', StringComparison.Ordinal) ?? -1;
        return dash > 0 && long.TryParse(text.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;
    }

    private static List<ReasonCount> ToReasonCounts(HashEntry[] entries)
    {
        var list = new List<ReasonCount>(entries.Length);
        foreach (var entry in entries)
        {
            var key = (string?)entry.Name ?? string.Empty;
            var bar = key.IndexOf('|', StringComparison.Ordinal);
            list.Add(bar < 0 ? new ReasonCount(string.Empty, key, (long)entry.Value) : new ReasonCount(key[..bar], key[(bar + 1)..], (long)entry.Value));
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Stage, b.Stage) is var c && c != 0 ? c : string.CompareOrdinal(a.Reason, b.Reason));
        return list;
    }

    /// <summary>
    /// Turns the trim journal into <c>dropped</c> events (reason <c>queue_full</c>), one per frame and group that lost it.
    /// The journal is a stream with its own consumer group, so every process helps, each entry is accounted once, and
    /// an entry a process took but did not finish (it crashed) is reclaimed.
    /// </summary>
    internal async Task<int> AccountTrimmedAsync(CancellationToken cancellationToken)
    {
        var db = await Connection.GetDatabaseAsync();
        var consumer = Service.InstanceId + "-accounting";
        var handled = 0;
        while (true)
        {
            StreamEntry[] entries;
            try
            {
                var claimed = await db.StreamAutoClaimAsync(Keys.Trimmed, RedisKeys.AccountingGroup, consumer, Options.ClaimIdleMs, "0-0", JournalBatch);
                entries = claimed.ClaimedEntries.Length > 0
                    ? claimed.ClaimedEntries
                    : await db.StreamReadGroupAsync(Keys.Trimmed, RedisKeys.AccountingGroup, consumer, ">", JournalBatch);
            }
            catch (Exception ex) when (IsNoGroup(ex))
            {
                await CreateGroupAsync(db, Keys.Trimmed, RedisKeys.AccountingGroup);
                continue;
            }

            if (entries.Length == 0)
            {
                return handled;
            }

            foreach (var entry in entries)
            {
                await AccountOneAsync(db, entry, cancellationToken);
                handled++;
            }
        }
    }

    private async Task AccountOneAsync(IDatabase db, StreamEntry entry, CancellationToken cancellationToken)
    {
        var values = entry.Values;
        var streamKey = BusFields.GetString(values, "stream") ?? string.Empty;
        var topic = streamKey.StartsWith(Keys.Prefix, StringComparison.Ordinal) ? streamKey[Keys.Prefix.Length..] : streamKey;
        var group = BusFields.GetString(values, "group") ?? string.Empty;
        var state = BusFields.GetString(values, "state") ?? "undelivered";
        var sourceId = BusFields.GetString(values, "entry") ?? string.Empty;
        if (FrameId.TryParse(BusFields.GetString(values, BusFields.FrameId), out var frameId, out _))
        {
            var context = TraceContextPropagation.FromTraceParent(BusFields.GetString(values, BusFields.TraceParent));
            var at = EntryTime(entry.Id) ?? Time.GetUtcNow();
            var dropped = new FrameEvent
            {
                EventId = StableEventId(at.ToUnixTimeMilliseconds(), streamKey + "\n" + sourceId + "\n" + group),
                FrameId = frameId,
                CameraId = BusFields.GetString(values, BusFields.CameraId) is { Length: > 0 } camera ? camera : frameId.CameraId,
                Type = FrameEventType.Dropped,
                Stage = Stages.Bus,
                Service = Service.Name,
                Timestamp = at,
                TraceId = context.TraceId,
                SpanId = context.SpanId,
                Reason = DropReasons.QueueFull,
                Data = string.Create(
                    CultureInfo.InvariantCulture,
                    $"{{\"topic\":\"{topic}\",\"group\":\"{group}\",\"trimmed\":true,\"state\":\"{state}\",\"entry\":\"{sourceId}\"}}"),
            };
            Telemetry.RecordFrameEvent(dropped);
            await PublishDurableAsync(Topics.Lifecycle.Name, _events, dropped, cancellationToken);
        }

        if (state != "undelivered")
        {
            // The publish script counted undelivered trims already; a frame lost with its consumer is counted here.
            await db.HashIncrementAsync(Keys.TopicDrops(topic), DropReasons.QueueFull);
            Telemetry.RecordTrimmed(topic, 1);
        }

        await db.StreamAcknowledgeAsync(Keys.Trimmed, RedisKeys.AccountingGroup, entry.Id);
        await db.StreamDeleteAsync(Keys.Trimmed, [entry.Id]);
    }

    /// <summary>
    /// A UUIDv7-shaped id that is the same for the same trimmed entry, so a journal entry accounted twice (a process
    /// crashed between publishing the event and acknowledging the entry) is stored once.
    /// </summary>
    public static Guid StableEventId(long unixMs, string key)
    {
        var h1 = Fnv(key, 0xcbf29ce484222325UL);
        var h2 = Fnv(key, 0x84222325cbf29ce4UL);
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, ((ulong)unixMs << 16) | (h1 & 0x0FFF) | 0x7000);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], (h2 & 0x3FFFFFFFFFFFFFFFUL) | 0x8000000000000000UL);
        return new Guid(bytes, bigEndian: true);
    }

    private static ulong Fnv(string text, ulong seed)
    {
        var hash = seed;
        foreach (var c in text)
        {
            hash ^= c;
            hash *= 0x100000001b3UL;
        }

        return hash;
    }

    /// <summary>
    /// Deletes from durable streams (and the trim journal) what every group on them has acknowledged: entries older than
    /// each group's oldest pending entry and last delivered entry. A stream without a group keeps everything.
    /// </summary>
    private async Task TrimDurableAsync(CancellationToken cancellationToken)
    {
        var db = await Connection.GetDatabaseAsync();
        var streams = _topics.Where(t => t.Value.Durability == TopicDurability.Durable).Select(t => Keys.Stream(t.Key)).Append(Keys.Trimmed);
        foreach (var stream in streams)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var groups = await GroupsAsync(db, stream);
            if (groups.Length == 0)
            {
                continue;
            }

            string? minId = null;
            foreach (var group in groups)
            {
                string candidate;
                if (group.PendingMessageCount > 0)
                {
                    var pending = await db.StreamPendingAsync(stream, group.Name);
                    candidate = (string?)pending.LowestPendingMessageId ?? "0-0";
                }
                else
                {
                    candidate = NextId((string?)group.LastDeliveredId ?? "0-0");
                }

                if (minId is null || CompareIds(candidate, minId) < 0)
                {
                    minId = candidate;
                }
            }

            if (minId is not null && minId != "0-0" && minId != "0-1")
            {
                await db.StreamTrimByMinIdAsync(stream, minId, useApproximateMaxLength: true);
            }
        }
    }

    private async Task RemoveDeadConsumersAsync(CancellationToken cancellationToken)
    {
        var db = await Connection.GetDatabaseAsync();
        var expiry = TimeSpan.FromSeconds(RedisOptions.ConsumerExpirySeconds).TotalMilliseconds;
        foreach (var stream in _topics.Keys.Select(Keys.Stream).Append(Keys.Trimmed))
        {
            foreach (var group in await GroupsAsync(db, stream))
            {
                foreach (var consumer in await db.StreamConsumerInfoAsync(stream, group.Name))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (consumer.PendingMessageCount == 0 && consumer.IdleTimeInMilliseconds > expiry)
                    {
                        await db.StreamDeleteConsumerAsync(stream, group.Name, consumer.Name);
                        Log.ConsumerRemoved(Logger, consumer.Name, group.Name, stream);
                    }
                }
            }
        }
    }

    private static string NextId(string id)
    {
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && ulong.TryParse(id.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            ? string.Create(CultureInfo.InvariantCulture, $"{id.AsSpan(0, dash)}-{seq + 1}")
            : id;
    }

    internal static int CompareIds(string a, string b)
    {
        static (ulong Ms, ulong Seq) Parse(string id)
        {
            var dash = id.IndexOf('-', StringComparison.Ordinal);
            return dash < 0
                ? (ulong.Parse(id, CultureInfo.InvariantCulture), 0)
                : (ulong.Parse(id.AsSpan(0, dash), CultureInfo.InvariantCulture), ulong.Parse(id.AsSpan(dash + 1), CultureInfo.InvariantCulture));
        }

        var (am, aseq) = Parse(a);
        var (bm, bseq) = Parse(b);
        return am != bm ? am.CompareTo(bm) : aseq.CompareTo(bseq);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4104, Level = LogLevel.Information, Message = "Redis bus: removed consumer {Consumer} of group {Group} on {Stream} (idle, nothing pending)")]
        public static partial void ConsumerRemoved(ILogger logger, string consumer, string group, string stream);
    }
}
