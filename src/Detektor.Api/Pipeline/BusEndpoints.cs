using System.Globalization;
using Detektor.Api.Http;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Backpressure;
using Detektor.Bus.Registry;
using Detektor.Core.Resilience;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Api.Pipeline;

/// <summary>
/// The bus as operators see it: depth, lag, consumers, pending, dead letters, drops by stage and reason, the breaker
/// (<c>/api/v1/bus</c>); dead letters to list and replay; the processor registry (<c>/api/v1/processors</c>).
/// </summary>
public static class BusEndpoints
{
    public const int DefaultDeadLetterLimit = 50;
    public const int MaxDeadLetterLimit = 1000;

    public static IEndpointRouteBuilder MapBus(this IEndpointRouteBuilder endpoints)
    {
        var bus = endpoints.MapGroup("/api/v1/bus").WithTags("Bus");
        bus.MapGet("/", GetAsync)
            .WithName("GetBus")
            .WithSummary("Transport, breaker, and per topic: depth, lag, pending, consumers, dead letters, drops by reason.")
            .Produces<BusResponse>();
        bus.MapGet("/deadletters", ListDeadLettersAsync)
            .WithName("ListDeadLetters")
            .WithSummary("Dead letters of every topic, newest first.")
            .Produces<DeadLetterPageResponse>()
            .ProducesValidationProblem();
        bus.MapPost("/deadletters/{id}/replay", ReplayAsync)
            .WithName("ReplayDeadLetter")
            .WithSummary("Publishes a dead letter again on its topic (first delivery) and removes it from the dead letters.")
            .Produces<ReplayResponse>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        endpoints.MapGet("/api/v1/processors", ListProcessorsAsync)
            .WithTags("Bus")
            .WithName("ListProcessors")
            .WithSummary("Live processors: capabilities, capacity, load, heartbeat, expiry, generation (restarts).")
            .Produces<ProcessorPageResponse>();
        return endpoints;
    }

    private static async Task<IResult> GetAsync(HttpContext context, IFrameBus bus, IBackpressureGate gate, CancellationToken cancellationToken)
    {
        var snapshot = await bus.GetSnapshotAsync(cancellationToken);
        var breakers = context.RequestServices.GetService<CircuitBreakers>()?.Snapshot() ?? [];
        return Results.Ok(BusResponse.From(snapshot, gate.Status, breakers));
    }

    private static async Task<IResult> ListDeadLettersAsync(HttpContext context, IFrameBus bus, CancellationToken cancellationToken)
    {
        var limit = DefaultDeadLetterLimit;
        if (context.Request.Query.TryGetValue("limit", out var values) &&
            (values.Count != 1 || !int.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > MaxDeadLetterLimit))
        {
            return ApiProblems.Field("limit", $"must be a whole number from 1 to {MaxDeadLetterLimit}, given once.");
        }

        var items = await bus.GetDeadLettersAsync(limit, cancellationToken);
        return Results.Ok(new DeadLetterPageResponse([.. items.Select(DeadLetterResponse.From)], limit));
    }

    private static async Task<IResult> ReplayAsync(string id, IFrameBus bus, CancellationToken cancellationToken)
    {
        var colon = id.LastIndexOf(':');
        if (id.Length > 200 || colon <= 0 || colon == id.Length - 1 || id.Any(char.IsControl))
        {
            return ApiProblems.Field("id", "must be a dead letter id as listed by GET /api/v1/bus/deadletters ('{topic}:{entry}').");
        }

        return await bus.ReplayDeadLetterAsync(id, cancellationToken)
            ? Results.Accepted(value: new ReplayResponse(id, Replayed: true))
            : ApiProblems.NotFound($"No dead letter '{id}'.");
    }

    private static async Task<IResult> ListProcessorsAsync(IProcessorRegistry registry, CancellationToken cancellationToken)
    {
        var processors = await registry.ListAsync(cancellationToken);
        return Results.Ok(new ProcessorPageResponse([.. processors.Select(ProcessorResponse.From)], (int)registry.Ttl.TotalSeconds));
    }
}

public sealed record BusResponse(
    string Transport,
    bool Available,
    DateTimeOffset TakenAt,
    BreakerStatus Breaker,
    IReadOnlyList<TopicResponse> Topics,
    IReadOnlyList<ReasonCount> Drops,
    IReadOnlyList<ReasonCount> Skips,
    long DeadLetters,
    IReadOnlyList<CircuitBreakerResponse> CircuitBreakers)
{
    public static BusResponse From(BusSnapshot snapshot, BreakerStatus breaker, IReadOnlyList<CircuitBreakerStatus> breakers) => new(
        snapshot.Transport,
        snapshot.Available,
        snapshot.TakenAt,
        breaker,
        [.. snapshot.Topics.Select(TopicResponse.From)],
        snapshot.Drops,
        snapshot.Skips,
        snapshot.Topics.Sum(t => t.DeadLetters),
        [.. breakers.Select(b => new CircuitBreakerResponse(b.Name, b.StateText, b.Since, b.Enabled))]);
}

/// <summary>One circuit breaker of this process (detectors, store, guarded processors): <c>closed</c>, <c>half_open</c> or <c>open</c>, since when.</summary>
public sealed record CircuitBreakerResponse(string Name, string State, DateTimeOffset Since, bool Enabled);

public sealed record TopicResponse(
    string Name,
    string Durability,
    long Depth,
    long Capacity,
    double Fill,
    long Length,
    long Published,
    long Delivered,
    long Acknowledged,
    long Pending,
    long DeadLetters,
    IReadOnlyDictionary<string, long> DroppedByReason,
    IReadOnlyList<string> Consumers,
    IReadOnlyList<GroupResponse> Groups)
{
    public static TopicResponse From(TopicSnapshot t) => new(
        t.Name, t.Durability == TopicDurability.Perishable ? "perishable" : "durable", t.Depth, t.Capacity,
        t.Capacity > 0 ? Math.Round((double)t.Depth / t.Capacity, 4) : 0, t.Length, t.Published, t.Delivered, t.Acknowledged, t.InFlight,
        t.DeadLetters, t.DroppedByReason, t.Consumers, [.. t.Groups.Select(GroupResponse.From)]);
}

public sealed record GroupResponse(string Name, long Lag, double LagSeconds, long Pending, IReadOnlyList<ConsumerResponse> Consumers)
{
    public static GroupResponse From(GroupSnapshot g) => new(
        g.Name, g.Lag, Math.Round(g.LagAge.TotalSeconds, 3), g.Pending,
        [.. g.Consumers.Select(c => new ConsumerResponse(c.Name, c.Pending, (long)c.Idle.TotalMilliseconds))]);
}

public sealed record ConsumerResponse(string Name, long Pending, long IdleMs);

public sealed record DeadLetterPageResponse(IReadOnlyList<DeadLetterResponse> Items, int Limit);

public sealed record DeadLetterResponse(
    string Id, string Topic, string Group, string MessageId, string Reason, int Attempts, DateTimeOffset DeadLetteredAt, string? FrameId, string? CameraId,
    long SizeBytes)
{
    public static DeadLetterResponse From(DeadLetter d) =>
        new(d.Id, d.Topic, d.Group, d.MessageId, d.Reason, d.Attempts, d.DeadLetteredAt, d.FrameId, d.CameraId, d.SizeBytes);
}

public sealed record ReplayResponse(string Id, bool Replayed);

public sealed record ProcessorPageResponse(IReadOnlyList<ProcessorResponse> Items, int TtlSeconds);

public sealed record ProcessorResponse(
    string Id, string Service, string Kind, IReadOnlyList<string> Capabilities, int Capacity, string Group, long InFlight, long Processed, double Load,
    DateTimeOffset RegisteredAt, DateTimeOffset LastHeartbeat, DateTimeOffset ExpiresAt, long Generation)
{
    public static ProcessorResponse From(ProcessorInfo p) => new(
        p.Id, p.Service, p.Kind, p.Capabilities, p.Capacity, p.Group, p.InFlight, p.Processed, Math.Round(p.Load, 4), p.RegisteredAt, p.LastHeartbeat,
        p.ExpiresAt, p.Generation);
}
