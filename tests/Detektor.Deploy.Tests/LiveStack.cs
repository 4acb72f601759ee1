using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Deploy.Tests;

/// <summary>
/// A live <c>detektor run</c> (demo camera on real footage, detection on at 2 detect fps so detection and skip metrics
/// exist) and Debian's Prometheus scraping it every second with deploy/prometheus/alerts.yml loaded. Started once for the
/// class, stopped on dispose.
/// </summary>
public sealed class LiveStack : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("detektor-livestack");
    private readonly StringBuilder _detektorLog = new();
    private readonly StringBuilder _prometheusLog = new();
    private Process? _detektor;
    private Process? _prometheus;

    public HttpClient Prometheus { get; private set; } = null!;

    public Uri DetektorUrl { get; private set; } = null!;

    public string Logs => $"detektor:\n{Tail(_detektorLog)}\nprometheus:\n{Tail(_prometheusLog)}";

    public async ValueTask InitializeAsync()
    {
        var prometheus = RequiredTool.Find("prometheus");
        Footage.Get("vtest.mp4");

        var detektorPort = FreePort.Next();
        DetektorUrl = new Uri($"http://127.0.0.1:{detektorPort}");
        var detektor = new ProcessStartInfo("dotnet") { WorkingDirectory = _dir.Path };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "detektor.dll"), "run", "--urls", DetektorUrl.ToString().TrimEnd('/'), "--data-dir", _dir.Combine("data") })
        {
            detektor.ArgumentList.Add(arg);
        }

        detektor.Environment["Detektor__Hosting__JsonLogs"] = "false";
        detektor.Environment["Detektor__Detection__DetectFps"] = "2";
        detektor.Environment["Detektor__Detection__ModelsDirectory"] = Repository.Cache("DETEKTOR_MODELS", "models");
        _detektor = Start(detektor, _detektorLog);

        var prometheusPort = FreePort.Next();
        var config = _dir.Combine("prometheus.yml");
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - {DeployFiles.Path("prometheus", "alerts.yml")}
            scrape_configs:
              - job_name: detektor
                static_configs:
                  - targets: ["127.0.0.1:{detektorPort}"]
            """));
        var prom = new ProcessStartInfo(prometheus) { WorkingDirectory = _dir.Path };
        foreach (var arg in new[]
        {
            $"--config.file={config}", $"--storage.tsdb.path={_dir.Combine("tsdb")}", $"--web.listen-address=127.0.0.1:{prometheusPort}",
        })
        {
            prom.ArgumentList.Add(arg);
        }

        _prometheus = Start(prom, _prometheusLog);
        Prometheus = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{prometheusPort}") };

        using var detektorHttp = new HttpClient { BaseAddress = DetektorUrl };
        await Eventually.WaitAsync(() => AnswersAsync(detektorHttp, "/health"), ok => ok, TimeSpan.FromSeconds(120), "detektor to answer /health\n" + Logs);
        // Requests so that the HTTP server metrics exist (a dashboard shows them).
        foreach (var path in new[] { "/health", "/ready", "/api/v1/frames?limit=1", "/api/v1/cameras" })
        {
            await AnswersAsync(detektorHttp, path);
        }

        // Data everywhere a healthy pipeline has it: frames stored, detection running, latency histograms filled.
        string[] musts =
        [
            "sum(rate(detektor_frames_stored_total[1m])) > 0",
            "sum(rate(detektor_detection_duration_seconds_count{detection_step=\"inference\"}[1m])) > 0",
            "sum(rate(detektor_frames_skipped_total[1m])) > 0",
            "histogram_quantile(0.95, sum by (le) (rate(detektor_frame_latency_seconds_bucket[1m]))) > 0",
            "sum(rate(http_server_request_duration_seconds_count[1m])) > 0",
            "count(detektor_health_check_status) > 0",
        ];
        foreach (var must in musts)
        {
            await Eventually.WaitAsync(
                async () => (await QueryAsync(must)).Result.GetArrayLength() > 0, ok => ok, TimeSpan.FromSeconds(180), $"{must}\n{Logs}");
        }
    }

    /// <summary>Evaluates an instant query; throws with Prometheus's error when it fails.</summary>
    public async Task<QueryResult> QueryAsync(string promql)
    {
        using var response = await Prometheus.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(promql));
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        var status = doc.RootElement.GetProperty("status").GetString();
        if (status != "success")
        {
            return new QueryResult(doc.RootElement.GetProperty("error").GetString(), default);
        }

        return new QueryResult(null, doc.RootElement.GetProperty("data").GetProperty("result").Clone());
    }

    public async Task<IReadOnlyList<string>> GetStringsAsync(string path)
    {
        using var doc = JsonDocument.Parse(await Prometheus.GetStringAsync(path));
        return [.. doc.RootElement.GetProperty("data").EnumerateArray().Select(e => e.GetString()!)];
    }

    public async ValueTask DisposeAsync()
    {
        Prometheus?.Dispose();
        foreach (var process in new[] { _prometheus, _detektor })
        {
            if (process is null)
            {
                continue;
            }

            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        _dir.Dispose();
    }

    private static Process Start(ProcessStartInfo info, StringBuilder log)
    {
        info.RedirectStandardError = true;
        info.RedirectStandardOutput = true;
        info.UseShellExecute = false;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Append(log, e.Data);
        process.ErrorDataReceived += (_, e) => Append(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Append(StringBuilder log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.AppendLine(line);
        }
    }

    private static string Tail(StringBuilder log)
    {
        lock (log)
        {
            var text = log.ToString();
            return text.Length > 3000 ? text[^3000..] : text;
        }
    }

    private static async Task<bool> AnswersAsync(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return (int)response.StatusCode < 500;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}

/// <summary>An instant query's outcome: the error, or the result vector.</summary>
public readonly record struct QueryResult(string? Error, JsonElement Result);
