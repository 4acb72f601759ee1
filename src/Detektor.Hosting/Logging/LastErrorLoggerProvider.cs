using Detektor.Core.Security;
using Microsoft.Extensions.Logging;

namespace Detektor.Hosting.Logging;

/// <summary>Remembers the last error logged in the process (masked), for the <c>last_error</c> of health responses.</summary>
public sealed class LastErrorTracker(TimeProvider time)
{
    private volatile LastError? _last;

    public LastError? Last => _last;

    public void Record(string category, string message) =>
        _last = new LastError(SecretMasker.MaskSecrets(message), category, time.GetUtcNow());
}

public sealed record LastError(string Message, string Category, DateTimeOffset At);

[ProviderAlias("LastError")]
public sealed class LastErrorLoggerProvider(LastErrorTracker tracker) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new LastErrorLogger(categoryName, tracker);

    public void Dispose()
    {
    }

    private sealed class LastErrorLogger(string category, LastErrorTracker tracker) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                var message = formatter(state, exception);
                tracker.Record(category, exception is null ? message : $"{message}: {exception.Message}");
            }
        }
    }
}
