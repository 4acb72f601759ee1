using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Detektor.Testing;

/// <summary>
/// A small HTTP/1.1 server on 127.0.0.1 for tests that need a real HTTP source: static files and directories (HLS
/// playlists and segments), a live MJPEG stream (<c>multipart/x-mixed-replace</c>, paced), fixed bytes (garbage), and 404
/// for the rest. Every request target (path and query) is recorded. One connection per request (<c>Connection: close</c>).
/// </summary>
public sealed class LoopbackHttpServer : LoopbackTcpServer
{
    public const string MjpegBoundary = "detektorframe";

    private readonly ConcurrentDictionary<string, Func<Stream, CancellationToken, Task>> _routes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _requests = new();

    public LoopbackHttpServer() => StartAccepting();

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    /// <summary>Request targets received so far (path with query), in order.</summary>
    public IReadOnlyList<string> Requests => [.. _requests];

    /// <summary>Serves fixed bytes at <paramref name="path"/>.</summary>
    public void MapBytes(string path, byte[] body, string contentType) =>
        _routes[path] = (stream, ct) => WriteResponseAsync(stream, 200, contentType, body, ct);

    /// <summary>Serves every file of <paramref name="directory"/> under <paramref name="prefix"/> (e.g. <c>/hls/</c>).</summary>
    public void MapDirectory(string prefix, string directory)
    {
        foreach (var file in Directory.GetFiles(directory))
        {
            var name = Path.GetFileName(file);
            var type = Path.GetExtension(file) switch
            {
                ".m3u8" => "application/vnd.apple.mpegurl",
                ".ts" => "video/mp2t",
                ".mp4" => "video/mp4",
                ".jpg" => "image/jpeg",
                _ => "application/octet-stream",
            };
            _routes[prefix + name] = (stream, ct) => WriteResponseAsync(stream, 200, type, File.ReadAllBytes(file), ct);
        }
    }

    /// <summary>
    /// A live MJPEG stream at <paramref name="path"/>: <paramref name="jpegs"/> in a loop, <paramref name="fps"/> per
    /// second, until the client goes away or the server is disposed.
    /// </summary>
    public void MapMjpeg(string path, IReadOnlyList<byte[]> jpegs, double fps) => _routes[path] = async (stream, ct) =>
    {
        var header = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary={MjpegBoundary}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(header, ct);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1 / fps));
        for (var i = 0; ; i = (i + 1) % jpegs.Count)
        {
            var part = Encoding.ASCII.GetBytes(
                $"--{MjpegBoundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {jpegs[i].Length.ToString(CultureInfo.InvariantCulture)}\r\n\r\n");
            await stream.WriteAsync(part, ct);
            await stream.WriteAsync(jpegs[i], ct);
            await stream.WriteAsync("\r\n"u8.ToArray(), ct);
            await stream.FlushAsync(ct);
            await timer.WaitForNextTickAsync(ct);
        }
    };

    protected override async Task OnClientAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var target = await ReadRequestTargetAsync(stream, Stopping);
                if (target is null)
                {
                    return;
                }

                _requests.Enqueue(target);
                var path = target.Split('?', 2)[0];
                if (_routes.TryGetValue(path, out var handler))
                {
                    await handler(stream, Stopping);
                }
                else
                {
                    await WriteResponseAsync(stream, 404, "text/plain", "not found"u8.ToArray(), Stopping);
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // the client went away, or the server stops
            }
        }
    }

    private static async Task<string?> ReadRequestTargetAsync(NetworkStream stream, CancellationToken ct)
    {
        var buffer = new byte[8192];
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(length), ct);
            if (n == 0)
            {
                return null;
            }

            length += n;
            var text = Encoding.ASCII.GetString(buffer, 0, length);
            if (text.Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var requestLine = text[..text.IndexOf("\r\n", StringComparison.Ordinal)].Split(' ');
                return requestLine.Length >= 2 ? requestLine[1] : null;
            }
        }

        return null;
    }

    private static async Task WriteResponseAsync(Stream stream, int status, string contentType, byte[] body, CancellationToken ct)
    {
        var reason = status == 200 ? "OK" : "Not Found";
        var header = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status.ToString(CultureInfo.InvariantCulture)} {reason}\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length.ToString(CultureInfo.InvariantCulture)}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(header, ct);
        await stream.WriteAsync(body, ct);
        await stream.FlushAsync(ct);
    }
}
