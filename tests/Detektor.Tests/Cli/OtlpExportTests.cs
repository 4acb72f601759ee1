using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using Detektor.Testing;

namespace Detektor.Tests.Cli;

/// <summary>
/// `detektor run` with the standard OTEL_* variables exports to the endpoint they name. A loopback OTLP/HTTP receiver
/// (written here; no collector runs on these machines) records what arrives; protobuf keeps strings as plain UTF-8, so the
/// payloads can be searched for attribute keys and values.
/// </summary>
public class OtlpExportTests
{
    [Fact]
    public async Task Run_OtlpEndpointSet_SpansArriveWithServiceNameAndFrameId()
    {
        RequiredTool.Find("ffmpeg");
        var port = FreePort.Next();
        var received = new ConcurrentDictionary<string, ConcurrentBag<byte[]>>();
        using var listener = new HttpListener();
        listener.Prefixes.Add(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
        listener.Start();
        using var stop = new CancellationTokenSource();
        var receiver = ReceiveAsync(listener, received, stop.Token);

        using var dir = new TempDirectory();
        await using (var detektor = DetektorProcess.StartWithEnvironment(
            new Dictionary<string, string>
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"),
                ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
                ["OTEL_SERVICE_NAME"] = "detektor-otlp-test",
                ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
                ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
            },
            "run", "--data-dir", dir.Path, "--urls", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}")))
        {
            await Eventually.WaitAsync(
                () => Has(received, "/v1/traces", "frame.id") && Has(received, "/v1/metrics", "detektor.frames.captured"),
                TimeSpan.FromSeconds(90),
                "spans with frame.id and the frames metric at the OTLP receiver" + Environment.NewLine + detektor.StdErr);
            await detektor.StopAsync();
        }

        await stop.CancelAsync();
        listener.Stop();
        await receiver;

        Assert.True(Has(received, "/v1/traces", "service.name"));
        Assert.True(Has(received, "/v1/traces", "detektor-otlp-test"));
        Assert.True(Has(received, "/v1/traces", "camera.id"));
        Assert.True(Has(received, "/v1/metrics", "detektor-otlp-test"));
        Assert.True(received.ContainsKey("/v1/logs"), "logs are exported too: " + string.Join(", ", received.Keys));
    }

    private static bool Has(ConcurrentDictionary<string, ConcurrentBag<byte[]>> received, string path, string text)
    {
        var needle = Encoding.UTF8.GetBytes(text);
        return received.TryGetValue(path, out var bodies) && bodies.Any(b => b.AsSpan().IndexOf(needle) >= 0);
    }

    private static async Task ReceiveAsync(HttpListener listener, ConcurrentDictionary<string, ConcurrentBag<byte[]>> received, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().WaitAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            using var body = new MemoryStream();
            var input = context.Request.Headers["Content-Encoding"] == "gzip"
                ? new GZipStream(context.Request.InputStream, CompressionMode.Decompress)
                : context.Request.InputStream;
            await input.CopyToAsync(body, cancellationToken);
            received.GetOrAdd(context.Request.Url!.AbsolutePath, _ => []).Add(body.ToArray());
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }
}
