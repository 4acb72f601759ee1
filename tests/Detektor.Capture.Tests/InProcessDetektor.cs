using System.Diagnostics;
using System.Text;
using Detektor.Composition;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Logs;
using OpenTelemetry.Trace;

namespace Detektor.Capture.Tests;

/// <summary>
/// The whole <c>detektor run</c> composition (capture, in-process bus, processing, SQLite store, API) in this process, on
/// a free loopback port with a temp data dir, with every span and log record kept in memory (OpenTelemetry in-memory
/// exporter) and every log line captured with its structured values.
/// </summary>
public sealed class InProcessDetektor : IAsyncDisposable
{
    private readonly TempDirectory _data;
    private readonly List<Activity> _spans;
    private readonly List<LogRecord> _records;
    private readonly CapturingLoggerProvider _logs;

    private InProcessDetektor(WebApplication app, int port, TempDirectory data, List<Activity> spans, List<LogRecord> records, CapturingLoggerProvider logs)
    {
        App = app;
        _data = data;
        _spans = spans;
        _records = records;
        _logs = logs;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => App.Services;

    public static async Task<InProcessDetektor> StartAsync(IReadOnlyList<(string Name, string Url)> cameras, IReadOnlyDictionary<string, string?>? settings = null)
    {
        RequiredTool.Find("ffmpeg");
        var port = FreePort.Next();
        var data = new TempDirectory("detektor-app");
        var run = new RunSettings
        {
            Urls = $"http://127.0.0.1:{port}",
            DataDir = data.Path,
            Cameras = cameras,
            Settings = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>(), StringComparer.OrdinalIgnoreCase),
        };
        List<Activity> spans = [];
        List<LogRecord> records = [];
        var logs = new CapturingLoggerProvider();
        var app = DetektorApp.Build(run, builder =>
        {
            builder.Services.AddOpenTelemetry().WithTracing(t => t.AddInMemoryExporter(spans));
            builder.Logging.AddOpenTelemetry(o =>
            {
                o.IncludeFormattedMessage = true;
                o.AddInMemoryExporter(records);
            });
            builder.Logging.AddProvider(logs);
        });
        await app.StartAsync();
        return new InProcessDetektor(app, port, data, spans, records, logs);
    }

    /// <summary>Everything exported so far (spans, log records, captured log lines) as text, for grepping.</summary>
    public string TelemetryText()
    {
        var text = new StringBuilder();
        lock (_spans)
        {
            foreach (var span in _spans)
            {
                text.Append("span ").Append(span.DisplayName).Append(' ').Append(span.StatusDescription).AppendLine();
                foreach (var tag in span.TagObjects)
                {
                    text.Append("  ").Append(tag.Key).Append('=').Append(tag.Value).AppendLine();
                }

                foreach (var e in span.Events)
                {
                    text.Append("  event ").Append(e.Name).AppendLine();
                    foreach (var tag in e.Tags)
                    {
                        text.Append("    ").Append(tag.Key).Append('=').Append(tag.Value).AppendLine();
                    }
                }
            }
        }

        lock (_records)
        {
            foreach (var record in _records)
            {
                text.Append("log ").Append(record.FormattedMessage).Append(' ').Append(record.Body).AppendLine();
                foreach (var attribute in record.Attributes ?? [])
                {
                    text.Append("  ").Append(attribute.Key).Append('=').Append(attribute.Value).AppendLine();
                }
            }
        }

        text.Append(_logs.Text());
        return text.ToString();
    }

    public int SpanCount(string name)
    {
        lock (_spans)
        {
            return _spans.Count(s => s.DisplayName == name);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await App.StopAsync(stop.Token);
        await App.DisposeAsync();
        _data.Dispose();
    }
}
