using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Detektor.Core.Frames;

namespace Detektor.Benchmarks;

/// <summary>
/// 50 concurrent clients against a real <c>detektor run</c> (its own process, demo camera running, SQLite store):
/// 60 % journey lookups of known frames, 30 % frame lists, 10 % frame-event posts. Prints latency percentiles per
/// operation. The goal: p95 under 100 ms.
/// </summary>
public static class ApiLoadTest
{
    private const int Clients = 50;

    public static async Task<int> RunAsync(int seconds)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"detektor-apiload-{Guid.NewGuid():N}");
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}";
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "detektor.dll"), "run", "--data-dir", dataDir, "--urls", url })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["Detektor__Hosting__JsonLogs"] = "false";
        using var server = Process.Start(info)!;
        server.OutputDataReceived += static (_, _) => { };
        server.ErrorDataReceived += static (_, _) => { };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            var known = await WaitForFramesAsync(http, 100);
            Console.WriteLine($"server ready with {known.Count} stored frames; {Clients} clients for {seconds} s");
            var latencies = new ConcurrentDictionary<string, ConcurrentBag<double>>();
            var errors = 0;
            var ids = new FrameIdGenerator(TimeProvider.System, 0x10ad);
            var stop = DateTime.UtcNow.AddSeconds(seconds);
            var clients = Enumerable.Range(0, Clients).Select(async c =>
            {
                var random = new Random(c);
                while (DateTime.UtcNow < stop)
                {
                    var roll = random.Next(100);
                    var op = roll < 60 ? "GET /api/v1/frames/{id}" : roll < 90 ? "GET /api/v1/frames?limit=20" : "POST /api/v1/frames";
                    var watch = Stopwatch.StartNew();
                    HttpResponseMessage response;
                    if (roll < 60)
                    {
                        response = await http.GetAsync($"api/v1/frames/{known[random.Next(known.Count)]}");
                    }
                    else if (roll < 90)
                    {
                        response = await http.GetAsync("api/v1/frames?limit=20");
                    }
                    else
                    {
                        var id = ids.Next("loadtest", c);
                        response = await http.PostAsJsonAsync("api/v1/frames", new Dictionary<string, object>
                        {
                            ["frame_id"] = id.ToString(),
                            ["camera_id"] = "loadtest",
                            ["timestamp"] = id.Timestamp.ToString("O", CultureInfo.InvariantCulture),
                            ["event_type"] = "captured",
                        });
                    }

                    watch.Stop();
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref errors);
                    }

                    response.Dispose();
                    latencies.GetOrAdd(op, _ => []).Add(watch.Elapsed.TotalMilliseconds);
                }
            }).ToList();
            await Task.WhenAll(clients);

            var all = latencies.Values.SelectMany(v => v).ToList();
            Console.WriteLine();
            Console.WriteLine($"| operation | requests | p50 ms | p95 ms | p99 ms | max ms |");
            Console.WriteLine($"|---|---|---|---|---|---|");
            foreach (var (op, values) in latencies.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                Print(op, [.. values]);
            }

            Print("all", all);
            Console.WriteLine($"throughput: {all.Count / (double)seconds:0} requests/s, errors: {errors}");
            return errors == 0 ? 0 : 1;
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            try
            {
                Directory.Delete(dataDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static void Print(string op, List<double> values)
    {
        values.Sort();
        double P(double q) => values[Math.Min(values.Count - 1, (int)Math.Ceiling(q * values.Count) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {op} | {values.Count} | {P(0.50):0.0} | {P(0.95):0.0} | {P(0.99):0.0} | {values[^1]:0.0} |"));
    }

    private static async Task<List<string>> WaitForFramesAsync(HttpClient http, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            try
            {
                using var doc = JsonDocument.Parse(await http.GetStringAsync($"api/v1/frames?limit={count}"));
                var ids = doc.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("frame_id").GetString()!).ToList();
                if (ids.Count >= count || DateTime.UtcNow > deadline)
                {
                    return ids.Count > 0 ? ids : throw new InvalidOperationException("The server stored no frames.");
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }

            await Task.Delay(500);
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
