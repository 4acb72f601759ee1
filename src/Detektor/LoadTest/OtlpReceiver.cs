using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using Detektor.Composition;

namespace Detektor.LoadTest;

/// <summary>
/// A loopback OTLP/HTTP receiver (protobuf) standing in for a collector: child processes export their spans here
/// (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>) and the load test reads them back. Metrics and logs are accepted and ignored.
/// Used by <c>detektor loadtest</c> and by the multi-process tests.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ExportedSpan> _spans = new();
    private long _requests;

    private OtlpReceiver(WebApplication app, string endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>Base URL, e.g. <c>http://127.0.0.1:4318</c>.</summary>
    public string Endpoint { get; }

    /// <summary>Every span received so far.</summary>
    public IReadOnlyList<ExportedSpan> Spans => [.. _spans];

    public int SpanCount => _spans.Count;

    /// <summary>Trace export requests received.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Environment variables that make a Detektor process export its spans here, quickly and without loss.</summary>
    public IReadOnlyDictionary<string, string> Environment(string serviceName) => new Dictionary<string, string>
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        ["OTEL_BSP_MAX_QUEUE_SIZE"] = "65536",
        ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = "2048",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "60000",
        ["OTEL_SERVICE_NAME"] = serviceName,
    };

    /// <summary>Starts listening on 127.0.0.1 at a port the OS picks.</summary>
    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder([DetektorApp.NoConfigWatch]);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 64 * 1024 * 1024);
        var app = builder.Build();
        OtlpReceiver? receiver = null;
        app.MapPost("/v1/traces", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            var input = context.Request.Headers.ContentEncoding == "gzip"
                ? new GZipStream(context.Request.Body, CompressionMode.Decompress)
                : context.Request.Body;
            await input.CopyToAsync(body, context.RequestAborted);
            foreach (var span in OtlpProtobuf.ParseTraces(body.ToArray()))
            {
                receiver!._spans.Enqueue(span);
            }

            Interlocked.Increment(ref receiver!._requests);
            return Results.Bytes([], "application/x-protobuf");
        });
        app.MapPost("/v1/{signal}", () => Results.Bytes([], "application/x-protobuf"));
        await app.StartAsync();
        var address = app.Urls.First();
        receiver = new OtlpReceiver(app, address.TrimEnd('/'));
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One exported span: ids as lowercase hex (parent empty for a root), name, service, string attributes.</summary>
public sealed record ExportedSpan(string TraceId, string SpanId, string ParentSpanId, string Name, string Service, IReadOnlyDictionary<string, string> Attributes)
{
    public string? FrameId => Attributes.GetValueOrDefault("frame.id");
}

/// <summary>
/// Reads <c>ExportTraceServiceRequest</c> (opentelemetry-proto trace/v1) from the protobuf wire format: just the fields
/// the tests look at, everything else skipped by wire type.
/// </summary>
public static class OtlpProtobuf
{
    public static List<ExportedSpan> ParseTraces(byte[] data)
    {
        var spans = new List<ExportedSpan>();
        var reader = new Reader(data);
        while (reader.Next(out var field, out var wire))
        {
            if (field == 1 && wire == 2)
            {
                ParseResourceSpans(reader.Bytes(), spans); // resource_spans
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return spans;
    }

    private static void ParseResourceSpans(ReadOnlyMemory<byte> data, List<ExportedSpan> spans)
    {
        var service = string.Empty;
        var scopes = new List<ReadOnlyMemory<byte>>();
        var reader = new Reader(data);
        while (reader.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, 2): // resource
                    var resource = new Reader(reader.Bytes());
                    while (resource.Next(out var rf, out var rw))
                    {
                        if (rf == 1 && rw == 2)
                        {
                            var (key, value) = ParseKeyValue(resource.Bytes());
                            if (key == "service.name")
                            {
                                service = value;
                            }
                        }
                        else
                        {
                            resource.Skip(rw);
                        }
                    }

                    break;
                case (2, 2): // scope_spans
                    scopes.Add(reader.Bytes());
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        foreach (var scope in scopes)
        {
            var scopeReader = new Reader(scope);
            while (scopeReader.Next(out var field, out var wire))
            {
                if (field == 2 && wire == 2)
                {
                    spans.Add(ParseSpan(scopeReader.Bytes(), service));
                }
                else
                {
                    scopeReader.Skip(wire);
                }
            }
        }
    }

    private static ExportedSpan ParseSpan(ReadOnlyMemory<byte> data, string service)
    {
        string traceId = string.Empty, spanId = string.Empty, parent = string.Empty, name = string.Empty;
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = new Reader(data);
        while (reader.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, 2): traceId = Convert.ToHexStringLower(reader.Bytes().Span); break;
                case (2, 2): spanId = Convert.ToHexStringLower(reader.Bytes().Span); break;
                case (4, 2): parent = Convert.ToHexStringLower(reader.Bytes().Span); break;
                case (5, 2): name = Encoding.UTF8.GetString(reader.Bytes().Span); break;
                case (9, 2):
                    var (key, value) = ParseKeyValue(reader.Bytes());
                    attributes[key] = value;
                    break;
                default: reader.Skip(wire); break;
            }
        }

        return new ExportedSpan(traceId, spanId, parent, name, service, attributes);
    }

    private static (string Key, string Value) ParseKeyValue(ReadOnlyMemory<byte> data)
    {
        string key = string.Empty, value = string.Empty;
        var reader = new Reader(data);
        while (reader.Next(out var field, out var wire))
        {
            if (field == 1 && wire == 2)
            {
                key = Encoding.UTF8.GetString(reader.Bytes().Span);
            }
            else if (field == 2 && wire == 2)
            {
                var any = new Reader(reader.Bytes());
                while (any.Next(out var af, out var aw))
                {
                    switch (af, aw)
                    {
                        case (1, 2): value = Encoding.UTF8.GetString(any.Bytes().Span); break; // string_value
                        case (3, 0): value = ((long)any.Varint()).ToString(CultureInfo.InvariantCulture); break; // int_value
                        default: any.Skip(aw); break;
                    }
                }
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return (key, value);
    }

    private sealed class Reader(ReadOnlyMemory<byte> data)
    {
        private int _position;

        public bool Next(out int field, out int wire)
        {
            if (_position >= data.Length)
            {
                field = wire = 0;
                return false;
            }

            var tag = Varint();
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong result = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = data.Span[_position++];
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return result;
                }
            }
        }

        public ReadOnlyMemory<byte> Bytes()
        {
            var length = (int)Varint();
            var slice = data.Slice(_position, length);
            _position += length;
            return slice;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _position += 8; break;
                case 2: Bytes(); break;
                case 5: _position += 4; break;
                default: throw new InvalidDataException($"Unsupported protobuf wire type {wire}.");
            }
        }
    }
}
