using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Detektor.Composition;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Sqlite;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using OpenTelemetry.Trace;

namespace Detektor.Tests.Pipeline;

/// <summary>
/// A whole all-in-one Detektor in this process, on a free loopback port and a temp data dir, with every span captured by
/// the OpenTelemetry in-memory exporter.
/// </summary>
public sealed class PipelineHost : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("detektor-pipeline");
    private readonly List<Activity> _spans = [];
    private WebApplication? _app;

    public PipelineHost(IReadOnlyDictionary<string, string?> settings, IReadOnlyList<(string, string)> cameras, Action<WebApplicationBuilder>? configure = null)
    {
        Port = FreePort.Next();
        Settings = new RunSettings
        {
            Urls = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}"),
            DataDir = _dir.Path,
            Cameras = cameras,
            // These tests pin the foundation's chain; detection (its processors, model pull) is tested in Detektor.Detection.Tests.
            Settings = new Dictionary<string, string?>(settings) { ["Detektor:Detection:Enabled"] = settings.GetValueOrDefault("Detektor:Detection:Enabled") ?? "false" },
        };
        Configure = configure;
        Http = new HttpClient { BaseAddress = new Uri(Settings.Urls + "/"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }

    public RunSettings Settings { get; }

    public HttpClient Http { get; }

    public string DataDir => _dir.Path;

    public WebApplication App => _app ?? throw new InvalidOperationException("Not started.");

    private Action<WebApplicationBuilder>? Configure { get; }

    /// <summary>
    /// A copy of the spans exported by the OpenTelemetry in-memory exporter; read them after <see cref="StopAsync"/>.
    /// (A copy: the provider listens to every Detektor source in the process, so hosts of tests running in parallel
    /// keep adding spans until this host is disposed.)
    /// </summary>
    public IReadOnlyList<Activity> Spans => _spans.ToArray();

    public async Task StartAsync()
    {
        _app = DetektorApp.Build(Settings, builder =>
        {
            builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(_spans));
            Configure?.Invoke(builder);
        });
        await _app.StartAsync();
    }

    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
        }
    }

    /// <summary>Waits until the store reports at least <paramref name="count"/> frames that reached a terminal state.</summary>
    public Task WaitForStoredFramesAsync(int count, TimeSpan timeout) =>
        Eventually.WaitAsync(
            async () =>
            {
                using var doc = await GetJsonAsync($"api/v1/frames?limit={Math.Min(1000, count * 2)}");
                return doc.RootElement.GetProperty("items").EnumerateArray().Count(i => i.GetProperty("state").GetString() is "stored" or "dropped");
            },
            n => n >= count,
            timeout,
            $"{count} frames in a terminal state");

    public async Task<JsonDocument> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"GET {path} → {(int)response.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body);
    }

    /// <summary>Every frame the store has, read straight from the SQLite file (after the host stopped).</summary>
    public async Task<List<FrameJourney>> ReadAllJourneysAsync()
    {
        using var store = new SqliteEventStore(Path.Combine(DataDir, "detektor.db"));
        var journeys = new List<FrameJourney>();
        string? cursor = null;
        do
        {
            var page = await store.QueryFramesAsync(new FrameQuery(Limit: 500, Before: cursor));
            foreach (var frame in page.Items)
            {
                journeys.Add((await store.GetJourneyAsync(frame.FrameId))!);
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return journeys;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        _dir.Dispose();
    }
}
