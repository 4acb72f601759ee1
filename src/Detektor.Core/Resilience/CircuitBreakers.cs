using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;

namespace Detektor.Core.Resilience;

/// <summary>State of a circuit breaker, as the metric reports it.</summary>
public enum BreakerState
{
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

/// <summary>One breaker as <c>/api/v1/bus</c> shows it: its state and since when.</summary>
public sealed record CircuitBreakerStatus(string Name, BreakerState State, DateTimeOffset Since, bool Enabled)
{
    public string StateText => StateName(State);

    public static string StateName(BreakerState state) => state switch
    {
        BreakerState.Closed => "closed",
        BreakerState.HalfOpen => "half_open",
        _ => "open",
    };
}

/// <summary>
/// The process's circuit breakers (Polly), one per name, created on first use with the settings of
/// <c>Detektor:Resilience:Breakers:{name}</c>. Components take theirs when they are built, so every breaker is in the
/// metrics (state 0) from the start.
/// </summary>
public sealed partial class CircuitBreakers
{
    private readonly ConcurrentDictionary<string, CircuitBreaker> _breakers = new(StringComparer.Ordinal);
    private readonly ResilienceOptions _options;
    private readonly ResilienceTelemetry _telemetry;
    private readonly TimeProvider _time;
    private readonly ILogger<CircuitBreakers> _logger;

    public CircuitBreakers(IOptions<ResilienceOptions> options, ResilienceTelemetry telemetry, TimeProvider time, ILogger<CircuitBreakers> logger)
    {
        _options = options.Value;
        _telemetry = telemetry;
        _time = time;
        _logger = logger;
        telemetry.Observe(Snapshot);
    }

    /// <summary>
    /// The breaker <paramref name="name"/>; created on the first call. <paramref name="isFailure"/> says which exceptions
    /// count as failures (default: every exception but a cancellation); the first caller's predicate is kept.
    /// </summary>
    public CircuitBreaker Get(string name, Func<Exception, bool>? isFailure = null) =>
        _breakers.GetOrAdd(name, static (n, state) => state.Self.Create(n, state.IsFailure), (Self: this, IsFailure: isFailure ?? DefaultIsFailure));

    /// <summary>Every breaker created so far, by name.</summary>
    public IReadOnlyList<CircuitBreakerStatus> Snapshot() => [.. _breakers.Values.Select(b => b.Status).OrderBy(s => s.Name, StringComparer.Ordinal)];

    private static bool DefaultIsFailure(Exception ex) => ex is not OperationCanceledException;

    private CircuitBreaker Create(string name, Func<Exception, bool> isFailure)
    {
        var o = _options.For(name);
        var breaker = new CircuitBreaker(name, o.Enabled, _time.GetUtcNow());
        var strategy = new CircuitBreakerStrategyOptions
        {
            Name = name,
            FailureRatio = o.FailureRatio,
            MinimumThroughput = o.MinimumThroughput,
            SamplingDuration = TimeSpan.FromSeconds(o.SamplingDurationSeconds),
            BreakDuration = TimeSpan.FromSeconds(o.BreakDurationSeconds),
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && ex is not BrokenCircuitException && isFailure(ex)),
            OnOpened = args =>
            {
                Moved(breaker, BreakerState.Open);
                Log.Opened(_logger, name, args.BreakDuration.TotalSeconds, args.Outcome.Exception?.GetType().Name ?? "failure");
                return ValueTask.CompletedTask;
            },
            OnHalfOpened = _ =>
            {
                Moved(breaker, BreakerState.HalfOpen);
                Log.HalfOpened(_logger, name);
                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                Moved(breaker, BreakerState.Closed);
                Log.Closed(_logger, name);
                return ValueTask.CompletedTask;
            },
        };
        breaker.Pipeline = o.Enabled
            ? new ResiliencePipelineBuilder { TimeProvider = _time }.AddCircuitBreaker(strategy).Build()
            : ResiliencePipeline.Empty;
        return breaker;
    }

    private void Moved(CircuitBreaker breaker, BreakerState state)
    {
        breaker.Move(state, _time.GetUtcNow());
        _telemetry.Transition(breaker.Name, state);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 9101, Level = LogLevel.Warning, Message = "Circuit breaker {Breaker} opened for {BreakSeconds} s after too many failures (last: {Error})")]
        public static partial void Opened(ILogger logger, string breaker, double breakSeconds, string error);

        [LoggerMessage(EventId = 9102, Level = LogLevel.Information, Message = "Circuit breaker {Breaker} is half-open: the next call is a probe")]
        public static partial void HalfOpened(ILogger logger, string breaker);

        [LoggerMessage(EventId = 9103, Level = LogLevel.Information, Message = "Circuit breaker {Breaker} closed: calls go through again")]
        public static partial void Closed(ILogger logger, string breaker);
    }
}

/// <summary>
/// One named breaker. <see cref="ExecuteAsync{TResult, TState}"/> runs a call through it; while it is open the call is
/// not made and <see cref="BrokenCircuitException"/> is thrown at once: the caller applies its policy when open.
/// </summary>
public sealed class CircuitBreaker
{
    private readonly object _gate = new();
    private BreakerState _state;
    private DateTimeOffset _since;

    internal CircuitBreaker(string name, bool enabled, DateTimeOffset since)
    {
        Name = name;
        Enabled = enabled;
        _since = since;
    }

    public string Name { get; }

    public bool Enabled { get; }

    internal ResiliencePipeline Pipeline { get; set; } = ResiliencePipeline.Empty;

    public BreakerState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>True while calls are refused (open), false when closed or half-open.</summary>
    public bool IsOpen => State == BreakerState.Open;

    public CircuitBreakerStatus Status
    {
        get
        {
            lock (_gate)
            {
                return new CircuitBreakerStatus(Name, _state, _since, Enabled);
            }
        }
    }

    /// <summary>Runs <paramref name="call"/> through the breaker; throws <see cref="BrokenCircuitException"/> while open.</summary>
    public ValueTask<TResult> ExecuteAsync<TResult, TState>(Func<TState, CancellationToken, ValueTask<TResult>> call, TState state, CancellationToken cancellationToken) =>
        Pipeline.ExecuteAsync(call, state, cancellationToken);

    internal void Move(BreakerState state, DateTimeOffset at)
    {
        lock (_gate)
        {
            _state = state;
            _since = at;
        }
    }
}
