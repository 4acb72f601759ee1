using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Detektor.Testing;

/// <summary>Keeps every log line: category, level, formatted message, each structured value, and any exception.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    /// <summary>The lines so far, one per log call.</summary>
    public IReadOnlyList<string> Lines => [.. _lines];

    public string Text() => string.Join('\n', _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = new StringBuilder().Append(category).Append(' ').Append(logLevel).Append(' ').Append(formatter(state, exception));
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (key, value) in values)
                {
                    line.Append(" | ").Append(key).Append('=').Append(value);
                }
            }

            if (exception is not null)
            {
                line.Append(" | exception=").Append(exception);
            }

            lines.Enqueue(line.ToString());
        }
    }
}
